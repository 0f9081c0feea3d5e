//! The machine we run on, for RAM-relative knob ranges and the memory guardrail.

use knobs::Hardware;

/// RAM from /proc/meminfo and the CPUs this process may use. Falls back to conservative
/// values (4 GiB, 2 CPUs) where they cannot be read.
pub fn detect() -> Hardware {
    let ram_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(4 << 30);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2);
    Hardware { ram_bytes, cpus }
}

/// "24 GiB RAM, 2 CPUs".
pub fn describe(h: &Hardware) -> String {
    format!(
        "{:.0} GiB RAM, {} CPUs",
        h.ram_bytes as f64 / (1u64 << 30) as f64,
        h.cpus
    )
}
