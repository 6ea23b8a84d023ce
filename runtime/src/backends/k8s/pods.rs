//! What a simulated cluster keeps inside its pods: container logs (`logs:`)
//! and files (`files:`), and commands run against those files (see
//! [`super::exec::simulate`]).

use serde_json::Value;

use super::exec::{ExecTarget, Output};
use super::kinds;
use super::world::ClusterWorld;
use super::{Error, LogOptions};
use crate::effects::Permit;

impl ClusterWorld {
    /// A container's log.
    pub fn logs(&self, ns: &str, pod: &str, options: &LogOptions) -> Result<String, Error> {
        let pod_kind = kinds::builtin(&kinds::parse("pod")).ok_or_else(|| Error::UnknownKind { kind: "pod".into() })?;
        self.get(&pod_kind, ns, pod)?;
        let key = format!("{ns}/{pod}");
        let text = options
            .container
            .as_ref()
            .and_then(|c| self.logs.get(&format!("{key}/{c}")))
            .or_else(|| self.logs.get(&key))
            .cloned()
            .unwrap_or_default();
        Ok(match options.tail.and_then(|t| usize::try_from(t).ok()) {
            Some(n) => {
                let lines: Vec<&str> = text.lines().collect();
                let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
                if !out.is_empty() {
                    out.push('\n');
                }
                out
            }
            None => text,
        })
    }

    /// The pod a command would run in, checked like the API server does:
    /// it exists, runs, and has the container asked for.
    pub(crate) fn exec_check(&self, target: &ExecTarget) -> Result<(), Error> {
        let pod_kind = kinds::builtin(&kinds::parse("pod")).ok_or_else(|| Error::UnknownKind { kind: "pod".into() })?;
        let pod = self.get(&pod_kind, &target.ns, &target.pod)?;
        if let Some(phase) = pod.pointer("/status/phase").and_then(Value::as_str).filter(|p| *p != "Running") {
            return Err(super::exec::not_running(target, phase));
        }
        if let (Some(want), Some(containers)) =
            (&target.container, pod.pointer("/spec/containers").and_then(Value::as_array))
        {
            if !containers.iter().any(|c| c.get("name").and_then(Value::as_str) == Some(want.as_str())) {
                return Err(Error::api(
                    400,
                    "BadRequest",
                    format!("container {want} is not valid for pod {}", target.pod),
                ));
            }
        }
        Ok(())
    }

    /// Runs a command against the pod's files. Under `Permit::Check`
    /// nothing runs: the pod is checked as for a real exec, and `None` is
    /// the answer.
    pub fn exec(
        &mut self,
        permit: &Permit,
        target: &ExecTarget,
        cmd: &[String],
        stdin: &[u8],
    ) -> Result<Option<Output>, Error> {
        self.exec_check(target)?;
        if permit.is_check() {
            return Ok(None);
        }
        let files = self.files.entry(format!("{}/{}", target.ns, target.pod)).or_default();
        let out = super::exec::simulate(files, cmd, stdin);
        if files.is_empty() {
            self.files.remove(&format!("{}/{}", target.ns, target.pod));
        }
        Ok(Some(out))
    }
}
