//! The machine we run on, for RAM-relative knob ranges and the memory guardrail.

use std::path::{Path, PathBuf};

use knobs::Hardware;

/// RAM this process may use: /proc/meminfo's total, or the memory limit of its cgroup (v2
/// `memory.max`, v1 `memory.limit_in_bytes`, of its own group or any parent) when that is
/// lower, as in a container. CPUs this process may use. Falls back to conservative values
/// (4 GiB, 2 CPUs) where they cannot be read.
pub fn detect() -> Hardware {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| parse_meminfo(&text));
    let own_groups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let limit = cgroup_limit_files(&own_groups, Path::new("/sys/fs/cgroup"))
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| parse_cgroup_limit(&text))
        .min();
    let ram_bytes = usable_ram(meminfo, limit).unwrap_or(4 << 30);
    if limit.is_some_and(|l| meminfo.is_none_or(|m| l < m)) {
        tracing::info!(
            limit = ram_bytes,
            "memory: the cgroup limit is below the machine's RAM; using the limit"
        );
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2);
    Hardware { ram_bytes, cpus }
}

/// `MemTotal` of /proc/meminfo, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .and_then(|kb| kb.checked_mul(1024))
}

/// A cgroup memory limit file's content: bytes, or `None` for no limit (`max` in v2) and for
/// anything that is not a positive number. v1 writes "no limit" as a huge number, which is
/// then simply larger than the RAM.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        t => t.parse::<u64>().ok().filter(|&n| n > 0),
    }
}

/// The lower of the RAM and the limit.
pub fn usable_ram(meminfo: Option<u64>, cgroup_limit: Option<u64>) -> Option<u64> {
    match (meminfo, cgroup_limit) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (m, l) => m.or(l),
    }
}

/// The limit files that apply to a process whose /proc/self/cgroup reads `own_groups`: its
/// group's and every parent's, v2 (`0::/path`) and v1 (`N:memory:/path`).
pub fn cgroup_limit_files(own_groups: &str, root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in own_groups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (base, file) = if controllers.is_empty() {
            (root.to_path_buf(), "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            (root.join("memory"), "memory.limit_in_bytes")
        } else {
            continue;
        };
        // "/a/b" → b's own, then a's, then the root's.
        let mut dir = Some(Path::new(path.trim()));
        while let Some(d) = dir {
            let relative = d.strip_prefix("/").unwrap_or(d);
            files.push(base.join(relative).join(file));
            dir = d.parent();
        }
    }
    files
}

/// "24 GiB RAM, 2 CPUs".
pub fn describe(h: &Hardware) -> String {
    format!(
        "{:.0} GiB RAM, {} CPUs",
        h.ram_bytes as f64 / (1u64 << 30) as f64,
        h.cpus
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_limits_parse_and_win_when_lower() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("2147483648\n"), Some(2 << 30));
        assert_eq!(parse_cgroup_limit(" 536870912 "), Some(512 << 20));
        for garbage in ["", "lots", "-1", "0", "1.5G", "12 34"] {
            assert_eq!(parse_cgroup_limit(garbage), None, "{garbage:?}");
        }
        // v1's "unlimited".
        let v1_unlimited = parse_cgroup_limit("9223372036854771712").unwrap();
        let ram = parse_meminfo("MemTotal:       16303424 kB\nMemFree: 1 kB\n").unwrap();
        assert_eq!(ram, 16303424 * 1024);
        assert_eq!(usable_ram(Some(ram), Some(v1_unlimited)), Some(ram));
        assert_eq!(usable_ram(Some(ram), Some(2 << 30)), Some(2 << 30));
        assert_eq!(usable_ram(Some(ram), None), Some(ram));
        assert_eq!(usable_ram(None, Some(1 << 30)), Some(1 << 30));
        assert_eq!(usable_ram(None, None), None);
        assert_eq!(parse_meminfo("MemTotal: many kB"), None);
        assert_eq!(parse_meminfo("MemTotal: 99999999999999999999 kB"), None);
    }

    #[test]
    fn the_limit_files_are_the_groups_own_and_its_parents() {
        let root = Path::new("/sys/fs/cgroup");
        let v2 = cgroup_limit_files("0::/system.slice/db.service\n", root);
        assert_eq!(
            v2,
            [
                root.join("system.slice/db.service/memory.max"),
                root.join("system.slice/memory.max"),
                root.join("memory.max"),
            ]
        );
        let v1 = cgroup_limit_files("5:cpu,cpuacct:/x\n4:memory:/docker/abc\n", root);
        assert_eq!(
            v1,
            [
                root.join("memory/docker/abc/memory.limit_in_bytes"),
                root.join("memory/docker/memory.limit_in_bytes"),
                root.join("memory/memory.limit_in_bytes"),
            ]
        );
        assert!(cgroup_limit_files("garbage\n\n", root).is_empty());
    }
}
