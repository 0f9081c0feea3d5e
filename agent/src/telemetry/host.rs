//! The host collector: CPU, memory, disks and pressure from /proc, read when the target runs
//! on this machine. Files that do not exist (no PSI on older kernels, no /proc at all) are
//! skipped without a word: they are not something the user can grant.

use std::path::{Path, PathBuf};

use super::snapshot::Snapshot;

/// Reads /proc (or another root, for tests) into a snapshot's `host.*` groups.
#[derive(Debug, Clone)]
pub struct HostCollector {
    proc_root: PathBuf,
}

impl Default for HostCollector {
    fn default() -> Self {
        HostCollector {
            proc_root: PathBuf::from("/proc"),
        }
    }
}

const CPU_FIELDS: &[&str] = &[
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

impl HostCollector {
    /// Read from another directory laid out like /proc.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        HostCollector {
            proc_root: root.into(),
        }
    }

    /// Add the host's figures to `snap`.
    pub fn collect_into(&self, snap: &mut Snapshot) {
        let boot = self.stat(snap);
        self.meminfo(snap);
        self.diskstats(snap);
        self.pressure(snap);
        // Counters restart with the machine: every host group shares the boot time as marker.
        if let Some(boot) = boot {
            let groups: Vec<String> = snap
                .counters
                .keys()
                .filter(|k| k.starts_with("host."))
                .filter_map(|k| k.rsplit_once('/').map(|(g, _)| g.to_string()))
                .collect();
            for g in groups {
                snap.resets.insert(g, boot);
            }
        }
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.proc_root.join(rel)).ok()
    }

    /// /proc/stat: CPU time in clock ticks, context switches, running processes, boot time.
    fn stat(&self, snap: &mut Snapshot) -> Option<f64> {
        let text = self.read("stat")?;
        let mut boot = None;
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            match parts.next() {
                Some("cpu") => {
                    for (field, value) in CPU_FIELDS.iter().zip(parts) {
                        if let Ok(v) = value.parse::<f64>() {
                            snap.counters.insert(format!("host.cpu/{field}"), v);
                        }
                    }
                }
                Some("ctxt") => put(
                    &mut snap.counters,
                    "host.cpu/context_switches",
                    parts.next(),
                ),
                Some("procs_running") => {
                    put(&mut snap.gauges, "host.cpu/procs_running", parts.next())
                }
                Some("procs_blocked") => {
                    put(&mut snap.gauges, "host.cpu/procs_blocked", parts.next())
                }
                Some("btime") => boot = parts.next().and_then(|v| v.parse().ok()),
                _ => {}
            }
        }
        if let Ok(n) = std::thread::available_parallelism() {
            snap.gauges.insert("host.cpu/cpus".into(), n.get() as f64);
        }
        boot
    }

    /// /proc/meminfo in bytes.
    fn meminfo(&self, snap: &mut Snapshot) {
        let Some(text) = self.read("meminfo") else {
            return;
        };
        const WANTED: &[&str] = &[
            "MemTotal",
            "MemFree",
            "MemAvailable",
            "Buffers",
            "Cached",
            "Dirty",
            "Writeback",
            "SwapTotal",
            "SwapFree",
            "Shmem",
        ];
        for line in text.lines() {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            if !WANTED.contains(&name) {
                continue;
            }
            if let Some(kb) = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            {
                snap.gauges.insert(format!("host.mem/{name}"), kb * 1024.0);
            }
        }
    }

    /// /proc/diskstats for whole disks (not partitions, loops or RAM disks).
    fn diskstats(&self, snap: &mut Snapshot) {
        let Some(text) = self.read("diskstats") else {
            return;
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 14 {
                continue;
            }
            let name = f[2];
            if name.starts_with("loop")
                || name.starts_with("ram")
                || is_partition(&self.proc_root, name)
            {
                continue;
            }
            let group = format!("host.disk/{name}");
            for (field, idx) in [
                ("reads", 3),
                ("sectors_read", 5),
                ("read_ms", 6),
                ("writes", 7),
                ("sectors_written", 9),
                ("write_ms", 10),
                ("io_ms", 12),
            ] {
                put(
                    &mut snap.counters,
                    &format!("{group}/{field}"),
                    f.get(idx).copied(),
                );
            }
            put(
                &mut snap.gauges,
                &format!("{group}/in_flight"),
                f.get(11).copied(),
            );
        }
    }

    /// /proc/pressure/{cpu,memory,io}: share of time stalled (avg10) and total stall µs.
    fn pressure(&self, snap: &mut Snapshot) {
        for resource in ["cpu", "memory", "io"] {
            let Some(text) = self.read(&format!("pressure/{resource}")) else {
                continue;
            };
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                let Some(kind) = parts.next() else { continue };
                for part in parts {
                    let Some((k, v)) = part.split_once('=') else {
                        continue;
                    };
                    let Ok(v) = v.parse::<f64>() else { continue };
                    match k {
                        "avg10" => {
                            snap.gauges
                                .insert(format!("host.pressure/{resource}_{kind}_avg10"), v);
                        }
                        "total" => {
                            snap.counters
                                .insert(format!("host.pressure/{resource}_{kind}_total_us"), v);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn put(map: &mut std::collections::BTreeMap<String, f64>, key: &str, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| v.parse::<f64>().ok()) {
        map.insert(key.to_string(), v);
    }
}

/// A partition has a `partition` file under /sys/class/block/NAME; without /sys, a name
/// ending in a digit after a letter-only disk name (sda1) is taken for one.
fn is_partition(proc_root: &Path, name: &str) -> bool {
    if proc_root == Path::new("/proc") {
        let sys = Path::new("/sys/class/block").join(name);
        if sys.exists() {
            return sys.join("partition").exists();
        }
    }
    name.starts_with("sd") && name.ends_with(|c: char| c.is_ascii_digit())
}

/// True when `host` names this machine.
pub fn is_local(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]" | "") || host.starts_with('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_proc_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stat"),
            "cpu  100 2 30 400 5 0 1 0 0 0\ncpu0 1 1 1 1 1 1 1 1\nctxt 999\nbtime 1700000000\nprocs_running 3\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("meminfo"),
            "MemTotal:       1024 kB\nMemAvailable:    512 kB\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("diskstats"),
            " 253 0 vda 10 0 80 5 20 0 160 7 0 12 12 0 0 0 0\n 7 0 loop0 1 0 1 1 1 0 1 1 0 1 1\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("pressure")).unwrap();
        std::fs::write(
            dir.path().join("pressure/io"),
            "some avg10=1.50 avg60=0.00 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=10\n",
        )
        .unwrap();
        let mut snap = Snapshot::default();
        HostCollector::with_root(dir.path()).collect_into(&mut snap);
        assert_eq!(snap.counters["host.cpu/user"], 100.0);
        assert_eq!(snap.counters["host.cpu/iowait"], 5.0);
        assert_eq!(snap.counters["host.cpu/context_switches"], 999.0);
        assert_eq!(snap.gauges["host.mem/MemTotal"], 1024.0 * 1024.0);
        assert_eq!(snap.counters["host.disk/vda/sectors_written"], 160.0);
        assert!(!snap.counters.keys().any(|k| k.contains("loop0")));
        assert_eq!(snap.gauges["host.pressure/io_some_avg10"], 1.5);
        assert_eq!(snap.counters["host.pressure/io_some_total_us"], 12345.0);
        assert_eq!(snap.resets["host.cpu"], 1_700_000_000.0);
        assert!(is_local("127.0.0.1") && !is_local("db.example"));
    }
}
