//! `k8s::` - Kubernetes clusters by kube context: reads (get, list, exists,
//! logs), writes through the effects gate (apply, create, patch, delete,
//! `delete_all`, scale), waits through the run's wait path, commands in
//! pods and verified copies. A `Cluster` holds the family value
//! (`backends::k8s::Cluster`): live (kubeconfig) or one of the world's
//! `clusters:`, decided by the run's target when it is opened, never by a
//! binding, which converts types and calls one of its verbs. Objects cross as maps with the
//! API's own field names. The family is one Rhai module built from three
//! exported modules (`api_read`, `api_write`, `api_exec`, `api_database`).

mod api_database;
mod api_exec;
mod api_read;
mod api_write;
pub(crate) mod cluster;
mod copy;
pub(crate) mod reads;
pub(crate) mod wait;
pub(crate) mod writes;

pub(crate) use cluster::SECTION;

/// The `k8s::` module.
pub(crate) fn module() -> rhai::Module {
    let mut module = rhai::exported_module!(api_read::k8s_read);
    module.combine_flatten(rhai::exported_module!(api_write::k8s_write));
    module.combine_flatten(rhai::exported_module!(api_exec::k8s_exec));
    module.combine_flatten(rhai::exported_module!(api_database::k8s_database));
    module
}
