//! A full file system under the audit log, made with the file-size limit (`RLIMIT_FSIZE`):
//! an append cut short leaves nothing torn behind, and once there is room again every record
//! is written and the chain verifies. The limit applies to the whole process, so this test
//! has a binary of its own.
#![cfg(target_os = "linux")]

mod support;

use support::{audited, invalid, version, PATIENCE};
use vexil::audit;
use vexil::Reload;

fn set_file_size_limit(bytes: libc::rlim_t) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

#[test]
fn a_full_disk_tears_nothing_and_loses_nothing() {
    // A write past the limit fails with EFBIG instead of killing the process.
    // SAFETY: ignoring SIGXFSZ installs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let (_dir, path, log, flags) = audited();
    let full = std::fs::metadata(&log).unwrap().len();
    // Room for part of the next record only: the append is cut short.
    set_file_size_limit(full + 100);
    std::fs::write(&path, version(2)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    std::fs::write(&path, invalid(0)).unwrap();
    assert!(matches!(flags.reload(), Reload::Rejected { .. }));
    assert!(!flags.flush_audit(std::time::Duration::from_millis(300)));
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        full,
        "the failed append was truncated away"
    );
    assert_eq!(audit::verify(&log), Ok(1));

    // Room again: the retry writes both records, in order.
    set_file_size_limit(libc::RLIM_INFINITY);
    assert!(flags.flush_audit(PATIENCE));
    std::fs::write(&path, version(3)).unwrap();
    assert!(matches!(flags.reload(), Reload::Applied(_)));
    assert!(flags.flush_audit(PATIENCE));
    assert_eq!(audit::verify(&log), Ok(4));
}
