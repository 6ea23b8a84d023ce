//! `hubops run`, start to end: check parameters, load the world, claim the
//! run it resumes, open the journal, take the locks, build the engine, run
//! the script on its own thread, roll back if asked, print the plan, close
//! the journal. The run's state (what bindings reach) is `crate::run`. Every problem found before the
//! first step (parameters, world, syntax) ends the command with exit 2 and
//! nothing started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::backends;
use crate::bindings::Extension;
use crate::catalog::{Catalog, Runbook};
use crate::check::declaration;
use crate::config::{OnFailure, Target};
use crate::diagnostics::{Diagnostic, Sources};
use crate::effects::{Gate, Mode};
use crate::engine::{self, Build};
use crate::error::Status;
use crate::journal::{self, Event, Journal};
use crate::output::{Printer, Tone};
use crate::params::{self, Supplied};
use crate::run::{self as run_state, lock, resume, Clock, Limits, Run, Steps};
use crate::world::{self, World};
use crate::Error;

/// Everything a run needs, decided from the command line.
pub(crate) struct RunRequest<'a> {
    pub(crate) runbook: Runbook,
    pub(crate) supplied: Supplied,
    pub(crate) dry_run: bool,
    pub(crate) plan_out: Option<PathBuf>,
    pub(crate) target: Target,
    pub(crate) save_world: Option<PathBuf>,
    pub(crate) faults: Option<PathBuf>,
    pub(crate) yes: bool,
    pub(crate) acks: Vec<String>,
    pub(crate) kubeconfig: Option<PathBuf>,
    pub(crate) journal: Option<PathBuf>,
    pub(crate) on_failure: OnFailure,
    pub(crate) resume: Option<String>,
    pub(crate) max_virtual_time: std::time::Duration,
    pub(crate) break_lock: bool,
    pub(crate) printer: Printer,
    pub(crate) catalog: &'a Catalog,
    pub(crate) extensions: &'a [Extension],
}

/// A loaded world, with what a resume and the locks need to know of it.
struct Loaded {
    world: World,
    /// SHA-256 of the text as read.
    digest: String,
    /// The file, when it is one (bundled worlds are not).
    path: Option<PathBuf>,
}

// Reads top to bottom as the sequence of a run; splitting it would only
// scatter that sequence.
#[allow(clippy::too_many_lines)]
pub(crate) fn execute(req: RunRequest<'_>) -> Result<Status, Error> {
    let printer = req.printer;
    let runbook = req.runbook.clone();
    let runbook = &runbook;
    let decl = declaration(runbook, req.catalog, req.extensions)?.unwrap_or_default();
    let loaded = load_world(&req)?;
    let resumed = match &req.resume {
        Some(run) => {
            let path = resume::locate(run)?;
            let id = (!std::path::Path::new(run).is_file()).then_some(run.as_str());
            let r = resume::load(&path, id)?;
            if let Some(line) = r.torn {
                printer.warn(&format!(
                    "line {line} of the journal `{}` was cut short (the run died while writing it) and is ignored",
                    path.display()
                ));
            }
            Some(r)
        }
        None => None,
    };
    let mut supplied = req.supplied;
    // Lower layers first: the world's values, then the resumed run's.
    let mut base = loaded.as_ref().map(|w| w.world.params.clone()).unwrap_or_default();
    if let Some(r) = &resumed {
        base.extend(r.reusable_params());
    }
    supplied.world = Some((loaded.as_ref().map_or_else(String::new, |w| w.world.origin.clone()), base));
    let values = params::validate(&runbook.name, &decl, &supplied)?;
    let redactor = crate::redact::global().clone();
    for secret in &values.secrets {
        redactor.add_value(secret);
    }
    if let Some(r) = &resumed {
        let target = if loaded.is_some() { "world" } else { "live" };
        r.check(&runbook.name, target, req.dry_run, &values.redacted(), loaded.as_ref().map(|w| w.digest.as_str()))?;
    }
    let save_world = match (&req.save_world, &loaded) {
        (Some(path), Some(_)) => {
            crate::state::check_writable(path).map_err(|source| Error::Write { path: path.clone(), source })?;
            Some(path.clone())
        }
        _ => None,
    };
    // A dry run changes nothing, so waiting for changes to settle is
    // pointless: its time is virtual too, and retry loops end at once.
    // A resumed rehearsal goes on at the latest time the run it continues
    // reached: the time its finished steps took passed, even if the world
    // file was last saved before them.
    let resumed_clock = resumed.as_ref().and_then(|r| r.last_clock);
    let clock = Arc::new(match &loaded {
        Some(w) => Clock::starting_at(resumed_clock.map_or(w.world.start(), |t| t.max(w.world.start()))),
        None if req.dry_run => Clock::starting_at(jiff::Timestamp::now()),
        None => Clock::Live,
    });
    let clock_start = clock.now();
    let id = run_id(&runbook.name);
    let journal_path = req.journal.clone().unwrap_or_else(|| journal::default_dir().join(format!("{id}.jsonl")));
    if let Some(r) = &resumed {
        resume::claim(r, &id, &crate::state::absolute(&journal_path))?;
    }
    let echo: Option<journal::Echo> =
        printer.json().then(|| Box::new(move |line: &str| printer.stdout_line(line)) as journal::Echo);
    let journal = Journal::open(&journal_path, echo, redactor.clone())?;
    let locks = lock::Locks::new(lock::Holder::this(&id));
    // The world files this run reads and writes: a second run on them waits
    // for none, it is refused.
    if let Some(w) = &loaded {
        for path in w.path.iter().chain(save_world.iter()) {
            locks.take(&format!("world {}", crate::state::absolute(path).display()))?;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let world_origin = loaded.as_ref().map(|w| w.world.origin.clone());
    let world_digest = loaded.as_ref().map(|w| w.digest.clone());
    let world_path = loaded.as_ref().and_then(|w| w.path.clone());
    let target = match loaded {
        Some(w) => backends::Target::World(crate::world::Shared::new(w.world, clock.clone())),
        None => backends::Target::Live(backends::Live { kubeconfig: req.kubeconfig.clone() }),
    };
    let lineage = resumed.as_ref().map_or_else(|| id.clone(), |r| r.lineage.clone());
    let resumed_owed = resumed.as_ref().map(|r| r.owed.clone()).unwrap_or_default();
    let replay = resumed.as_ref().map(|r| r.replay.clone()).unwrap_or_default();
    // Saving the world after every change makes a world file the site's
    // state: a run killed half-way leaves it as far as it got, so the run
    // can be resumed on it.
    let save_each_change = match (&save_world, &world_path) {
        (Some(save), Some(input)) => crate::state::absolute(save) == crate::state::absolute(input),
        _ => false,
    };
    let run = Arc::new(Run {
        id: id.clone(),
        printer,
        journal,
        gate: Gate::new(
            if req.dry_run { Mode::DryRun } else { Mode::Apply },
            req.yes,
            req.acks.iter().cloned().collect(),
            &lineage,
            replay,
        ),
        clock,
        cancel: crate::cancel::on_ctrl_c(),
        redactor,
        target,
        steps: Mutex::new(Steps::default()),
        params: Mutex::new(Some(values.clone())),
        runtime,
        resumed,
        locks,
        remotes: lock::Remotes::default(),
        break_lock: req.break_lock,
        me: std::sync::OnceLock::new(),
        limits: Limits::new(req.max_virtual_time, clock_start),
        save_world: save_each_change.then(|| save_world.clone()).flatten(),
        forecast: Mutex::default(),
        owed: Mutex::new(resumed_owed),
    });
    let _ = run.me.set(Arc::downgrade(&run));

    let (resolver, sources) = engine::resolver(runbook.folder(), req.catalog.search_path().to_vec());
    let engine = engine::build(Build { resolver, extensions: req.extensions, run: Some(run.clone()), optimize: true });
    let source_name = runbook.source_name();
    {
        let mut s = sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.add(&source_name, &runbook.text);
        s.functions = crate::signature::of_engine(&engine, true);
    }
    let mut ast = engine.compile(&runbook.text).map_err(|e| {
        let s = sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Error::Script(Box::new(Diagnostic::from_parse(&s, &source_name, &e)))
    })?;
    ast.set_source(source_name.as_str());

    // Audit first: a run whose journal cannot be written does not start.
    run.journal().try_record(&Event::RunStart {
        run_id: id,
        runbook: runbook.name.clone(),
        origin: runbook.origin_label(),
        params: values.redacted(),
        target: if world_origin.is_some() { "world" } else { "live" }.into(),
        world: world_origin.clone(),
        dry_run: req.dry_run,
        version: env!("CARGO_PKG_VERSION").into(),
        started: jiff::Timestamp::now().to_string(),
        clock: run.clock().now().to_string(),
        resumed_from: run.resumed.as_ref().map(|r| r.from.clone()),
        lineage: run.resumed.as_ref().map(|r| r.lineage.clone()),
        resumed_journal: run.resumed.as_ref().map(|r| r.journal.display().to_string()),
        world_digest,
        operator: Some(lock::operator()),
    })?;
    for target in run.locks.held() {
        run.record(&Event::Lock { target, action: "acquired".into(), holder: None });
    }
    if let Some(r) = &run.resumed {
        let mut note = format!("run {} ({} finished steps are not run again", r.from, r.steps.len());
        if !r.rolled_back.is_empty() {
            note.push_str(&format!("; rolled back, so run again: {}", r.rolled_back.join(", ")));
        }
        note.push(')');
        printer.status(Tone::Progress, "Resuming", &note);
    }
    let mode = match (&world_origin, req.dry_run) {
        (Some(w), false) => format!("on world {w} (virtual time; nothing real is touched)"),
        (Some(w), true) => format!("as a dry run on world {w} (changes are checked, not made)"),
        (None, false) => "live".into(),
        (None, true) => "as a dry run against live systems (changes are checked, not made)".into(),
    };
    printer.status(Tone::Progress, "Running", &format!("{} ({}) {mode}", runbook.name, runbook.origin_label()));

    let started = Instant::now();
    let outcome = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("runbook".into())
            .stack_size(16 << 20)
            .spawn_scoped(scope, || engine.run_ast(&ast))
            .map_err(|e| Error::Internal(format!("cannot start the script thread: {e}")))?
            .join()
            .map_err(|_| Error::Internal("the script thread panicked".into()))
    })?;

    let mut failure = outcome.err().map(|err| {
        let s = sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Diagnostic::from_eval(&s, &source_name, &err)
    });
    if let Some(diag) = &failure {
        run.record(&Event::Error {
            kind: diag.kind.clone(),
            message: run.redactor().redact(&diag.message),
            location: diag.location.as_ref().map(|l| format!("{}:{}:{}", l.source, l.line, l.col)),
            causes: diag.causes.iter().map(|c| run.redactor().redact(c)).collect(),
        });
        if diag.status != Status::Interrupted {
            settle_rollbacks(&run, &engine, &ast, req.on_failure);
        }
    }
    // A failed dry run's plan goes after the error: it ends where the run
    // stopped, and must not read as the whole plan ("no changes").
    if req.dry_run {
        let plan = run.gate.plan();
        match failure.as_mut() {
            Some(diag) => diag.after = Some(printer.plan_text(&plan, true)),
            None => printer.plan(&plan),
        }
        if let Some(path) = &req.plan_out {
            let mut json = crate::output::plan_json(&plan);
            json["run_id"] = run.id().into();
            json["runbook"] = runbook.name.clone().into();
            json["complete"] = failure.is_none().into();
            let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
            match crate::state::write_atomic(path, text.as_bytes()) {
                Ok(()) => printer.status(Tone::Progress, "Wrote", &format!("the plan to {}", path.display())),
                Err(e) => printer.warn(&format!("cannot write the plan to `{}`: {e}", path.display())),
            }
        }
    }
    warn_owed(&run);
    run.release_remotes();
    let status = failure.as_ref().map_or(Status::Success, |d| d.status);
    let saved = match (&req.save_world, run.target()) {
        (Some(path), backends::Target::World(_)) => Some(run.save_world_to(path)),
        _ => None,
    };
    run.close_open_windows(failure.is_some());
    run.record(&Event::RunEnd {
        status: match status {
            Status::Success => "succeeded",
            Status::Interrupted => "interrupted",
            _ => "failed",
        }
        .into(),
        duration_ms: started.elapsed().as_millis() as u64,
        applied: run.gate.applied_count(),
        planned: run.gate.planned_count(),
        replayed: run.gate.replayed_count(),
        clock: run.clock().now().to_string(),
        clock_ms: run.clock().is_virtual().then(|| run.limits.virtual_elapsed(run.clock()).as_millis() as u64),
    });
    match saved {
        Some(Ok(path)) => printer.status(Tone::Progress, "Saved", &format!("world to {}", path.display())),
        Some(Err(e)) => printer.warn(&format!("{e}: the world as this run left it was not saved")),
        None => {}
    }
    printer.status(Tone::Progress, "Journal", &run.journal().path().display().to_string());
    if let Some(why) = run.journal().broken() {
        printer.warn(&format!("the journal is incomplete: {why}"));
    }
    if failure.is_none() {
        for name in run.gate.unused_acks() {
            printer.warn(&format!("--ack {name} was given, but this run asked for no acknowledgement named `{name}`"));
        }
        let here = crate::duration::format_wall(started.elapsed());
        let virtual_time = run.limits.virtual_elapsed(run.clock());
        let took = if run.clock().is_virtual() && !virtual_time.is_zero() {
            format!("{} of virtual time, {here} here", crate::duration::format(virtual_time))
        } else {
            here
        };
        printer.status(Tone::Progress, "Finished", &format!("{} in {took}", runbook.name));
    }
    // A rehearsal's virtual time is the site's: the forecast of the window.
    if world_origin.is_some() && !req.dry_run {
        let f = run.forecast.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = run.clock().now();
        printer.forecast(run.limits.virtual_elapsed(run.clock()), f.steps(), f.windows(), now);
    }
    match failure {
        None => Ok(Status::Success),
        Some(diag) => Err(Error::Script(Box::new(diag))),
    }
}

fn load_world(req: &RunRequest<'_>) -> Result<Option<Loaded>, Error> {
    let name = match &req.target {
        Target::Live if req.faults.is_some() => return Err(world::Error::FaultsWithoutWorld.into()),
        Target::Live => return Ok(None),
        Target::World(name) => name.clone(),
        Target::Rehearse => {
            req.runbook.default_world().ok_or_else(|| world::Error::NoDefault { runbook: req.runbook.name.clone() })?
        }
    };
    let (text, origin, path) =
        req.catalog.world(&name, req.runbook.folder().as_deref()).ok_or(world::Error::NotFound { name })?;
    let mut sections = crate::bindings::world_sections();
    sections.extend(req.extensions.iter().filter_map(|e| e.world_section));
    let mut world = World::load(&text, &origin, &sections)?;
    let mut digest = run_state::digest(text.as_bytes());
    if let Some(file) = &req.faults {
        // The file takes the place of the world's own `faults:`; the
        // digest covers both, so a resume with other faults is refused.
        let faults_text =
            crate::state::read_bounded(file).map_err(|source| Error::Read { path: file.clone(), source })?;
        let part = crate::world::faults::load_file(&faults_text)
            .map_err(|message| world::Error::Syntax { origin: file.display().to_string(), message })?;
        world.set_part(crate::world::faults::SECTION, part);
        digest = run_state::digest(format!("{text}\n{faults_text}").as_bytes());
    }
    Ok(Some(Loaded { world, digest, path }))
}

/// After a failure: run the rollbacks of completed steps (newest first) when
/// asked to, or say which steps could be rolled back.
fn settle_rollbacks(run: &Arc<Run>, engine: &rhai::Engine, ast: &rhai::AST, on_failure: OnFailure) {
    let rollbacks = run.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).rollbacks();
    if rollbacks.is_empty() {
        return;
    }
    if on_failure == OnFailure::Stop {
        let names: Vec<&str> = rollbacks.iter().map(|(n, _)| n.as_str()).collect();
        run.printer().warn(&format!(
            "completed steps with a rollback were left as they are: {} (run with --on-failure rollback to undo them automatically)",
            names.join(", ")
        ));
        return;
    }
    for (step, rollback) in rollbacks {
        run.printer().status(Tone::Warn, "Rolling back", &step);
        // Changes a rollback makes are keyed apart from the step's own, so a
        // resume never hands them back as the step's.
        run.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).enter_rollback(&step);
        // In a state of its own, with the script's functions, the function
        // libraries in scope where the step ran (a rollback closure made
        // inside a module's function, `gitops::hold`, is one of that
        // module's functions) and the modules it had imported.
        let mut global = engine.new_global_runtime_state();
        global.lib.push(ast.shared_lib().clone());
        global.lib.extend(rollback.libs.iter().cloned());
        for (name, module) in &rollback.imports {
            global.push_import(name.clone(), module.clone());
        }
        let ctx = rhai::NativeCallContext::new_with_all_fields(
            engine,
            rollback.f.fn_name(),
            None,
            &global,
            rhai::Position::NONE,
        );
        let result = rollback.f.call_raw(&ctx, None, []);
        run.steps.lock().unwrap_or_else(std::sync::PoisonError::into_inner).leave_rollback();
        let error = result.err().map(|e| run.redactor().redact(&crate::bindings::short_error(&e)));
        if let Some(why) = &error {
            run.printer().warn(&format!("rollback of `{step}` failed: {why}"));
        }
        run.record(&Event::Rollback { step, status: if error.is_some() { "failed" } else { "ok" }.into(), error });
    }
}

/// A run never leaves silently what it owes the site (see `run::undo`).
fn warn_owed(run: &Run) {
    let owed = run.owed();
    if owed.is_empty() {
        return;
    }
    run.printer().warn(&format!(
        "this run leaves {} change{} that must be undone:",
        owed.len(),
        if owed.len() == 1 { "" } else { "s" }
    ));
    for (id, o) in &owed {
        run.printer().warn(&format!("`{id}`: {}; to undo: {}", o.what, o.undo));
    }
}

fn run_id(runbook: &str) -> String {
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y%m%dT%H%M%SZ");
    let salt = (now.as_nanosecond() as u64 ^ u64::from(std::process::id())) & 0xffff;
    let safe: String = runbook.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{stamp}-{safe}-{salt:04x}")
}

impl Sources {
    /// For errors before a run: the main script only.
    pub(crate) fn of(name: &str, text: &str) -> Self {
        let mut s = Self::default();
        s.add(name, text);
        s
    }
}
