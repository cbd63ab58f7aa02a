//! How much memory the process may use: the cgroup limit when there is one (containers),
//! else physical RAM.

use std::path::Path;

/// The effective memory limit in bytes, or `None` when nothing can be read.
pub fn memory_limit_bytes() -> Option<u64> {
    let ram = physical_ram_bytes(Path::new("/proc/meminfo"));
    let cgroup = cgroup_limit_bytes(Path::new("/sys/fs/cgroup"));
    match (cgroup, ram) {
        // cgroup v1 reports "unlimited" as a huge number; never trust more than RAM.
        (Some(c), Some(r)) => Some(c.min(r)),
        (c, r) => c.or(r),
    }
}

/// cgroup v2 `memory.max`, else cgroup v1 `memory/memory.limit_in_bytes`.
fn cgroup_limit_bytes(root: &Path) -> Option<u64> {
    if let Ok(v2) = std::fs::read_to_string(root.join("memory.max")) {
        return parse_limit(&v2);
    }
    std::fs::read_to_string(root.join("memory/memory.limit_in_bytes"))
        .ok()
        .and_then(|v1| parse_limit(&v1))
}

fn parse_limit(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if raw == "max" {
        return None;
    }
    raw.parse().ok().filter(|&v| v > 0)
}

fn physical_ram_bytes(meminfo: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(meminfo).ok()?;
    parse_meminfo_total(&text)
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup_forms() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("1073741824\n"), Some(1 << 30));
        assert_eq!(parse_limit("garbage"), None);
    }

    #[test]
    fn reads_cgroup_v1_and_v2_layouts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("memory")).unwrap();
        std::fs::write(
            dir.path().join("memory/memory.limit_in_bytes"),
            "2147483648\n",
        )
        .unwrap();
        assert_eq!(cgroup_limit_bytes(dir.path()), Some(2 << 30));
        std::fs::write(dir.path().join("memory.max"), "1073741824\n").unwrap();
        assert_eq!(cgroup_limit_bytes(dir.path()), Some(1 << 30));
    }

    #[test]
    fn parses_meminfo() {
        assert_eq!(
            parse_meminfo_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(parse_meminfo_total("nothing"), None);
    }
}
