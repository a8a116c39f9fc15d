//! Unit tests of the parent module.

use super::*;

#[test]
fn long_names_write_through_short_temporaries() {
    let d = tempfile::tempdir().unwrap();
    let name = "x".repeat(250);
    write_bytes_atomic(&d.path().join(&name), b"ok").unwrap();
    assert_eq!(std::fs::read(d.path().join(&name)).unwrap(), b"ok");
}

#[cfg(unix)]
#[test]
fn outputs_get_ordinary_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.json");
    write_json_atomic(&p, &1).unwrap();
    let created = d.path().join("b");
    std::fs::write(&created, b"x").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&p),
        mode(&created),
        "same mode as a plainly created file"
    );
}

#[test]
fn an_interrupted_commit_is_completed_or_undone() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    commit_files(dir, &[("a", b"1".to_vec()), ("b", b"1".to_vec())]).unwrap();
    // Killed after staging, before the journal: the old generation stays.
    std::fs::write(dir.join(staged_name("a")), b"2").unwrap();
    let r = recover(dir).unwrap();
    assert!(!r.rolled_forward);
    assert_eq!(r.removed, 1);
    assert_eq!(std::fs::read(dir.join("a")).unwrap(), b"1");
    // Killed after the journal and one rename: the new generation is completed.
    std::fs::write(dir.join("a"), b"2").unwrap();
    std::fs::write(dir.join(staged_name("b")), b"2").unwrap();
    write_json_atomic(&dir.join(JOURNAL_FILE), &["a", "b"]).unwrap();
    let r = recover(dir).unwrap();
    assert!(r.rolled_forward);
    assert_eq!(std::fs::read(dir.join("b")).unwrap(), b"2");
    assert!(!has_journal(dir));
    // Stray temporaries in subfolders go too; other hidden files stay.
    std::fs::create_dir_all(dir.join("v/c")).unwrap();
    std::fs::write(dir.join("v/c/.shapeclf-abc.tmp"), b"").unwrap();
    std::fs::write(dir.join("v/c/.keep"), b"").unwrap();
    assert_eq!(recover(dir).unwrap().removed, 1);
    assert!(dir.join("v/c/.keep").exists());
}

#[test]
fn a_locked_folder_is_refused_until_released() {
    let d = tempfile::tempdir().unwrap();
    let a = FolderLock::acquire(d.path()).unwrap();
    match FolderLock::acquire(d.path()) {
        Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
        other => panic!("expected Held, got {other:?}"),
    }
    drop(a);
    FolderLock::acquire(d.path()).unwrap();
}

#[test]
fn a_commit_that_removes_a_stale_file_is_completed_or_undone_whole() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    commit_files(dir, &[("t.csv", b"1".to_vec()), ("m", b"1".to_vec())]).unwrap();
    commit_files_removing(
        dir,
        &[("t.pq", b"2".to_vec()), ("m", b"2".to_vec())],
        &["t.csv"],
    )
    .unwrap();
    assert!(!dir.join("t.csv").exists());
    assert_eq!(std::fs::read(dir.join("m")).unwrap(), b"2");
    // Killed after the journal and the renames, before the removal: recovery removes it.
    std::fs::write(dir.join("t.csv"), b"1").unwrap();
    let journal = serde_json::json!({"replace": ["t.pq", "m"], "remove": ["t.csv"]});
    write_json_atomic(&dir.join(JOURNAL_FILE), &journal).unwrap();
    assert!(recover(dir).unwrap().rolled_forward);
    assert!(!dir.join("t.csv").exists());
    assert!(dir.join("t.pq").exists() && !has_journal(dir));
    // A journal naming a path outside the folder is not shapeclf's: dropped, nothing removed.
    std::fs::write(dir.join("keep"), b"x").unwrap();
    let bad = serde_json::json!({"replace": [], "remove": ["../keep"]});
    write_json_atomic(&dir.join(JOURNAL_FILE), &bad).unwrap();
    assert!(!recover(dir).unwrap().rolled_forward);
    assert!(dir.join("keep").exists());
}

#[test]
fn a_commit_stays_counted_while_another_ends() {
    // Two commits overlap (two threads of a library caller): the first to end must not make
    // a Ctrl-C handler believe nothing is under way. (Other tests may commit meanwhile, so
    // only "under way" is asserted.)
    let outer = super::Committing::begin();
    let inner = super::Committing::begin();
    assert!(super::committing());
    drop(inner);
    assert!(super::committing(), "the outer commit is still under way");
    drop(outer);
}

#[cfg(unix)]
#[test]
fn a_process_is_alive_until_it_is_reaped() {
    assert!(process_alive(std::process::id()));
    assert!(
        process_alive(1),
        "init runs (as another user: EPERM counts as alive)"
    );
    assert!(!process_alive(999_999_999));
    assert!(!process_alive(u32::MAX), "beyond pid_t");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    assert!(process_alive(child.id()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!process_alive(child.id()));
}
