//! Docker's default seccomp filter, rendered as the OCI `linux.seccomp` object runc
//! loads. The syscall facts (names, argument filters, errno values) follow moby's
//! `profiles/seccomp/default.json`; this module owns turning that profile into a
//! concrete filter for one container on this host: which architectures it covers and
//! which capability-, architecture- and kernel-dependent rules apply.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator as Op,
    LinuxSyscall,
};

/// Syscalls every container may make, whatever its capabilities or architecture.
/// Names the host architecture lacks are harmless: runc skips syscalls libseccomp
/// cannot resolve.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "riscv_hwprobe",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "setxattrat",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "uretprobe",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// EPERM, the answer for anything the profile does not allow.
const EPERM: u32 = 1;
/// ENOSYS for `clone3`: an unprivileged container cannot be allowed `clone3` (its flags
/// live in a struct seccomp cannot inspect), and EPERM would make glibc give up where
/// ENOSYS makes it fall back to the filterable `clone`.
const ENOSYS: u32 = 38;

/// The namespace-creating `clone` flags (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET); without CAP_SYS_ADMIN, `clone` is allowed only when none
/// of them is set.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// AF_ALG: the kernel crypto socket family is shut out by allowing every family but it.
const AF_ALG: u64 = 38;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Allow,
    Errno(u32),
}

/// One comparison on a syscall argument; several in one rule must all hold.
struct Arg {
    index: usize,
    value: u64,
    value_two: u64,
    op: Op,
}

const fn arg(index: usize, op: Op, value: u64) -> Arg {
    Arg {
        index,
        value,
        value_two: 0,
        op,
    }
}

/// A rule that applies only in some situations. Architecture names are libseccomp's
/// native ones ("amd64", "arm64", "s390x", ...), as the upstream profile writes them.
struct Rule {
    names: &'static [&'static str],
    action: Action,
    args: &'static [Arg],
    /// Applies only on these architectures (empty: any).
    only_arches: &'static [&'static str],
    /// Never applies on these architectures.
    skip_arches: &'static [&'static str],
    /// Applies only when the container holds this capability.
    needs_cap: Option<&'static str>,
    /// Never applies when the container holds this capability.
    unless_cap: Option<&'static str>,
    /// Applies only on a host kernel at least this (major, minor).
    min_kernel: Option<(u32, u32)>,
}

const ALLOW: Rule = Rule {
    names: &[],
    action: Action::Allow,
    args: &[],
    only_arches: &[],
    skip_arches: &[],
    needs_cap: None,
    unless_cap: None,
    min_kernel: None,
};

const fn with_cap(cap: &'static str, names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        needs_cap: Some(cap),
        ..ALLOW
    }
}

const fn on_arches(arches: &'static [&'static str], names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        only_arches: arches,
        ..ALLOW
    }
}

/// The situational rules, in upstream order (runc does not care about order, but
/// keeping it makes the output easy to diff against Docker's).
const RULES: &[Rule] = &[
    // Before 4.8 a ptraced process could slip past seccomp, so ptrace was only safe
    // to hand out with CAP_SYS_PTRACE (see below).
    Rule {
        names: &["process_vm_readv", "process_vm_writev", "ptrace"],
        min_kernel: Some((4, 8)),
        ..ALLOW
    },
    // Three rules rather than one: the comparisons inside one rule are ANDed.
    Rule {
        names: &["socket"],
        args: &[arg(0, Op::ScmpCmpLt, AF_ALG)],
        ..ALLOW
    },
    Rule {
        names: &["socket"],
        args: &[arg(0, Op::ScmpCmpEq, AF_ALG + 1)],
        ..ALLOW
    },
    Rule {
        names: &["socket"],
        args: &[arg(0, Op::ScmpCmpGt, AF_ALG + 2)],
        ..ALLOW
    },
    // Only the execution domains ordinary programs use: PER_LINUX, PER_LINUX32,
    // UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (the "query current" call).
    Rule {
        names: &["personality"],
        args: &[arg(0, Op::ScmpCmpEq, 0x0)],
        ..ALLOW
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, Op::ScmpCmpEq, 0x8)],
        ..ALLOW
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, Op::ScmpCmpEq, 0x20000)],
        ..ALLOW
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, Op::ScmpCmpEq, 0x20008)],
        ..ALLOW
    },
    Rule {
        names: &["personality"],
        args: &[arg(0, Op::ScmpCmpEq, 0xffff_ffff)],
        ..ALLOW
    },
    on_arches(&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    on_arches(
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    on_arches(&["amd64", "x32"], &["arch_prctl"]),
    on_arches(&["amd64", "x32", "x86"], &["modify_ldt"]),
    on_arches(
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    on_arches(&["riscv64"], &["riscv_flush_icache"]),
    with_cap("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    with_cap(
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    Rule {
        names: &["clone"],
        args: &[arg(0, Op::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS)],
        skip_arches: &["s390", "s390x"],
        unless_cap: Some("CAP_SYS_ADMIN"),
        ..ALLOW
    },
    // s390 passes the clone flags as the second argument, not the first.
    Rule {
        names: &["clone"],
        args: &[arg(1, Op::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS)],
        only_arches: &["s390", "s390x"],
        unless_cap: Some("CAP_SYS_ADMIN"),
        ..ALLOW
    },
    Rule {
        names: &["clone3"],
        action: Action::Errno(ENOSYS),
        unless_cap: Some("CAP_SYS_ADMIN"),
        ..ALLOW
    },
    with_cap("CAP_SYS_BOOT", &["reboot"]),
    with_cap("CAP_SYS_CHROOT", &["chroot"]),
    with_cap(
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    with_cap("CAP_SYS_PACCT", &["acct"]),
    with_cap(
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    with_cap("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    with_cap(
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    with_cap("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    with_cap(
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    with_cap("CAP_SYSLOG", &["syslog"]),
    with_cap("CAP_BPF", &["bpf"]),
    with_cap("CAP_PERFMON", &["perf_event_open"]),
];

/// For a host architecture (libseccomp native name), the seccomp architectures the
/// filter covers: the native one plus the compat ABIs its kernel can also run.
/// Hosts not listed get no list, which makes runc filter the native ABI only.
const ARCH_MAP: &[(&str, &[Arch])] = &[
    (
        "amd64",
        &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    ("arm64", &[Arch::ScmpArchAarch64, Arch::ScmpArchArm]),
    (
        "mips64",
        &[
            Arch::ScmpArchMips64,
            Arch::ScmpArchMips,
            Arch::ScmpArchMips64n32,
        ],
    ),
    (
        "mipsel64",
        &[
            Arch::ScmpArchMipsel64,
            Arch::ScmpArchMipsel,
            Arch::ScmpArchMipsel64n32,
        ],
    ),
    ("s390x", &[Arch::ScmpArchS390x, Arch::ScmpArchS390]),
    ("riscv64", &[Arch::ScmpArchRiscv64]),
    ("loongarch64", &[Arch::ScmpArchLoongarch64]),
];

/// The default profile for a container holding `capabilities` (with the `CAP_`
/// prefix, as in the spec's capability sets), on this host.
pub fn default_profile(capabilities: &[String]) -> LinuxSeccomp {
    build(capabilities, host_arch(), host_kernel())
}

/// The host in libseccomp's naming, which is what the profile's arch conditions use.
fn host_arch() -> Option<&'static str> {
    native_arch(std::env::consts::ARCH, cfg!(target_endian = "little"))
}

fn native_arch(rust_arch: &str, little_endian: bool) -> Option<&'static str> {
    Some(match rust_arch {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" if little_endian => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "riscv64" => "riscv64",
        "loongarch64" => "loongarch64",
        "mips64" | "mips64r6" if little_endian => "mipsel64",
        "mips64" | "mips64r6" => "mips64",
        _ => return None,
    })
}

/// The running kernel's (major, minor), or `None` if it cannot be read; rules gated
/// on a minimum kernel are then left out, which only ever makes the filter stricter.
fn host_kernel() -> Option<(u32, u32)> {
    let uts = nix::sys::utsname::uname().ok()?;
    parse_kernel_release(&uts.release().to_string_lossy())
}

/// "6.8.0-45-generic" → (6, 8); "3.12-1-amd64" → (3, 12).
fn parse_kernel_release(release: &str) -> Option<(u32, u32)> {
    let (major, rest) = release.trim().split_once('.')?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    Some((major.parse().ok()?, rest[..digits].parse().ok()?))
}

fn build(capabilities: &[String], arch: Option<&str>, kernel: Option<(u32, u32)>) -> LinuxSeccomp {
    let has_cap = |cap: &str| capabilities.iter().any(|c| c == cap);
    let on_arch = |arches: &[&str]| arch.is_some_and(|a| arches.contains(&a));

    let architectures = arch
        .and_then(|a| ARCH_MAP.iter().find(|(native, _)| *native == a))
        .map(|(_, list)| list.to_vec());

    let mut syscalls = vec![syscall(ALLOWED, &Action::Allow, &[])];
    for rule in RULES {
        let applies = (rule.only_arches.is_empty() || on_arch(rule.only_arches))
            && !on_arch(rule.skip_arches)
            && rule.needs_cap.is_none_or(has_cap)
            && !rule.unless_cap.is_some_and(has_cap)
            && rule
                .min_kernel
                .is_none_or(|min| kernel.is_some_and(|k| k >= min));
        if applies {
            syscalls.push(syscall(rule.names, &rule.action, rule.args));
        }
    }

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActErrno)
        .set_default_errno_ret(Some(EPERM))
        .set_architectures(architectures)
        .set_syscalls(Some(syscalls));
    profile
}

fn syscall(names: &[&str], action: &Action, args: &[Arg]) -> LinuxSyscall {
    let mut out = LinuxSyscall::default();
    out.set_names(names.iter().map(|n| n.to_string()).collect());
    match action {
        Action::Allow => out.set_action(LinuxSeccompAction::ScmpActAllow),
        Action::Errno(errno) => out
            .set_action(LinuxSeccompAction::ScmpActErrno)
            .set_errno_ret(Some(*errno)),
    };
    if !args.is_empty() {
        out.set_args(Some(
            args.iter()
                .map(|a| {
                    LinuxSeccompArgBuilder::default()
                        .index(a.index)
                        .value(a.value)
                        .value_two(a.value_two)
                        .op(a.op)
                        .build()
                        .expect("every field of a seccomp argument is set")
                })
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The profile as runc reads it.
    fn build(capabilities: &[String], arch: Option<&str>, kernel: Option<(u32, u32)>) -> Value {
        serde_json::to_value(super::build(capabilities, arch, kernel)).unwrap()
    }

    const AMD64: Option<&str> = Some("amd64");
    const MODERN: Option<(u32, u32)> = Some((6, 8));
    const OLD: Option<(u32, u32)> = Some((4, 4));

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|c| c.to_string()).collect()
    }

    fn docker_default_caps() -> Vec<String> {
        caps(super::super::DEFAULT_CAPABILITIES)
    }

    fn rules_naming<'a>(profile: &'a Value, name: &str) -> Vec<&'a Value> {
        profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed whatever its arguments.
    fn allowed(profile: &Value, name: &str) -> bool {
        rules_naming(profile, name)
            .iter()
            .any(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
    }

    /// The errno a rule explicitly answers for this syscall, if any.
    fn errno_for(profile: &Value, name: &str) -> Option<u64> {
        rules_naming(profile, name)
            .iter()
            .find(|r| r["action"] == "SCMP_ACT_ERRNO")
            .map(|r| r["errnoRet"].as_u64().unwrap())
    }

    #[test]
    fn denies_with_eperm_by_default_and_allows_the_basics() {
        let p = build(&docker_default_caps(), AMD64, MODERN);
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        for name in ["read", "write", "execve", "exit_group", "openat", "futex"] {
            assert!(allowed(&p, name), "{name} should be allowed");
        }
        assert!(rules_naming(&p, "kexec_load").is_empty());
        assert!(rules_naming(&p, "open_by_handle_at").is_empty());
    }

    #[test]
    fn without_sys_admin_namespaces_and_mounts_are_refused() {
        let p = build(&docker_default_caps(), AMD64, MODERN);
        for name in ["mount", "umount2", "unshare", "setns", "sethostname", "bpf"] {
            assert!(rules_naming(&p, name).is_empty(), "{name} should be denied");
        }
        assert!(!allowed(&p, "clone3"));
        assert_eq!(errno_for(&p, "clone3"), Some(38));
        // clone is allowed only without namespace flags in its first argument.
        assert!(!allowed(&p, "clone"));
        let clone = rules_naming(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(
            clone[0]["args"],
            json!([{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        );
    }

    #[test]
    fn sys_admin_unlocks_mounts_namespaces_and_plain_clone() {
        let mut c = docker_default_caps();
        c.push("CAP_SYS_ADMIN".into());
        let p = build(&c, AMD64, MODERN);
        for name in [
            "mount", "umount2", "unshare", "setns", "clone", "clone3", "fsopen",
        ] {
            assert!(allowed(&p, name), "{name} should be allowed");
        }
        assert_eq!(errno_for(&p, "clone3"), None);
        assert!(
            rules_naming(&p, "clone")
                .iter()
                .all(|r| r.get("args").is_none()),
            "no restricted clone rule alongside the open one"
        );
    }

    #[test]
    fn s390x_filters_clone_flags_in_the_second_argument() {
        let p = build(&[], Some("s390x"), MODERN);
        let clone = rules_naming(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0]["args"][0]["index"], 1);
        assert_eq!(clone[0]["args"][0]["value"], 0x7E02_0000u64);
        assert!(allowed(&p, "s390_runtime_instr"));
        assert!(!allowed(&p, "arch_prctl"));
    }

    #[test]
    fn ptrace_needs_the_capability_only_on_old_kernels() {
        let none = docker_default_caps();
        let mut traced = none.clone();
        traced.push("CAP_SYS_PTRACE".into());

        for kernel in [OLD, None] {
            assert!(!allowed(&build(&none, AMD64, kernel), "ptrace"));
            assert!(allowed(&build(&traced, AMD64, kernel), "ptrace"));
        }
        // From 4.8 seccomp is re-checked after a tracer changes the syscall.
        assert!(allowed(&build(&none, AMD64, Some((4, 8))), "ptrace"));
        assert!(allowed(&build(&none, AMD64, MODERN), "process_vm_readv"));
        // The rest of the tracing family stays behind the capability regardless.
        assert!(!allowed(&build(&none, AMD64, MODERN), "kcmp"));
        assert!(!allowed(&build(&none, AMD64, MODERN), "pidfd_getfd"));
        assert!(allowed(&build(&traced, AMD64, MODERN), "kcmp"));
    }

    #[test]
    fn each_capability_unlocks_its_syscalls() {
        let cases = [
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_RAWIO", "iopl"),
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
        ];
        for (cap, name) in cases {
            assert!(
                !allowed(&build(&[], AMD64, MODERN), name),
                "{name} without {cap}"
            );
            assert!(
                allowed(&build(&caps(&[cap]), AMD64, MODERN), name),
                "{name} with {cap}"
            );
        }
        // Docker's defaults include CAP_SYS_CHROOT.
        assert!(allowed(
            &build(&docker_default_caps(), AMD64, MODERN),
            "chroot"
        ));
    }

    #[test]
    fn architecture_rules_follow_the_host() {
        let amd = build(&[], AMD64, MODERN);
        assert!(allowed(&amd, "arch_prctl"));
        assert!(allowed(&amd, "modify_ldt"));
        assert!(!allowed(&amd, "set_tls"));

        let arm = build(&[], Some("arm64"), MODERN);
        assert!(allowed(&arm, "set_tls"));
        assert!(allowed(&arm, "cacheflush"));
        assert!(!allowed(&arm, "arch_prctl"));
        assert!(!allowed(&arm, "modify_ldt"));
        assert_eq!(
            arm["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );

        // An architecture we cannot name gets no arch-specific rules and no arch list.
        let unknown = build(&[], None, MODERN);
        assert!(unknown.get("architectures").is_none());
        assert!(!allowed(&unknown, "arch_prctl"));
        assert_eq!(rules_naming(&unknown, "clone")[0]["args"][0]["index"], 0);
    }

    #[test]
    fn host_architecture_list() {
        let p = serde_json::to_value(default_profile(&docker_default_caps())).unwrap();
        let expected = match std::env::consts::ARCH {
            "x86_64" => json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            "aarch64" => json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
            _ => return,
        };
        assert_eq!(p["architectures"], expected);
    }

    #[test]
    fn argument_filters_are_exact() {
        let p = build(&[], AMD64, MODERN);
        let values = |name: &str| -> Vec<(u64, String)> {
            rules_naming(&p, name)
                .iter()
                .map(|r| {
                    let a = &r["args"][0];
                    assert_eq!(a["index"], 0);
                    assert_eq!(a["valueTwo"], 0);
                    (
                        a["value"].as_u64().unwrap(),
                        a["op"].as_str().unwrap().into(),
                    )
                })
                .collect()
        };
        let eq = |v: u64| (v, "SCMP_CMP_EQ".to_string());
        assert_eq!(
            values("personality"),
            [eq(0), eq(8), eq(0x20000), eq(0x20008), eq(0xffff_ffff)]
        );
        assert_eq!(
            values("socket"),
            [
                (38, "SCMP_CMP_LT".to_string()),
                (39, "SCMP_CMP_EQ".to_string()),
                (40, "SCMP_CMP_GT".to_string()),
            ]
        );
    }

    #[test]
    fn tables_are_well_formed() {
        assert!(!ALLOWED.is_empty());
        let mut seen = std::collections::HashSet::new();
        for name in ALLOWED {
            assert!(seen.insert(*name), "{name} listed twice");
        }
        for rule in RULES {
            assert!(!rule.names.is_empty());
            // An unconditional allow would make every conditional rule for the same
            // syscall meaningless, or contradict an errno rule.
            for name in rule.names {
                assert!(
                    !ALLOWED.contains(name),
                    "{name} is both unconditional and conditional"
                );
            }
        }
    }

    #[test]
    fn no_situation_both_allows_and_refuses_a_syscall() {
        let mut cap_sets: Vec<Vec<String>> = vec![vec![], docker_default_caps()];
        cap_sets.extend(RULES.iter().filter_map(|r| r.needs_cap).map(|c| caps(&[c])));
        cap_sets.push(
            RULES
                .iter()
                .filter_map(|r| r.needs_cap)
                .map(String::from)
                .collect(),
        );
        let arches = [
            AMD64,
            Some("arm64"),
            Some("s390x"),
            Some("riscv64"),
            Some("ppc64le"),
            None,
        ];
        for c in &cap_sets {
            for arch in arches {
                for kernel in [OLD, MODERN, None] {
                    let p = build(c, arch, kernel);
                    for rule in p["syscalls"].as_array().unwrap() {
                        assert!(!rule["names"].as_array().unwrap().is_empty());
                        if rule["action"] != "SCMP_ACT_ERRNO" {
                            continue;
                        }
                        for name in rule["names"].as_array().unwrap() {
                            let name = name.as_str().unwrap();
                            assert!(
                                !rules_naming(&p, name)
                                    .iter()
                                    .any(|r| r["action"] == "SCMP_ACT_ALLOW"),
                                "{name} both allowed and refused ({c:?}, {arch:?}, {kernel:?})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn kernel_release_parsing() {
        assert_eq!(parse_kernel_release("6.8.0-45-generic"), Some((6, 8)));
        assert_eq!(parse_kernel_release("3.12-1-amd64"), Some((3, 12)));
        assert_eq!(parse_kernel_release("4.19.0\n"), Some((4, 19)));
        assert_eq!(parse_kernel_release("garbage"), None);
    }

    #[test]
    fn rust_arch_names_map_to_libseccomp() {
        assert_eq!(native_arch("x86_64", true), Some("amd64"));
        assert_eq!(native_arch("aarch64", true), Some("arm64"));
        assert_eq!(native_arch("powerpc64", true), Some("ppc64le"));
        assert_eq!(native_arch("mips64", false), Some("mips64"));
        assert_eq!(native_arch("sparc64", false), None);
    }
}
