//! Parses the captured node_exporter scrape (`data/node_exporter.prom`) that seeds the workload.
//!
//! Only what the workload needs is read: `# TYPE` lines, and samples with their labels,
//! value and printed precision. The file is ours, but a bad edit must still give a clear
//! error with the line number rather than a panic.

use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;

/// How a series evolves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic, reset only by a reboot.
    Counter,
    /// Free-moving level.
    Gauge,
}

/// One sample line of the scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSeries {
    pub name: String,
    /// Labels other than `__name__`, in file order.
    pub labels: Vec<(String, String)>,
    pub kind: Kind,
    pub value: f64,
    /// Digits after the decimal point as printed by the exporter, so generated values
    /// keep the real precision (which matters for compression).
    pub decimals: u8,
}

/// The whole scrape plus the host uptime at capture time.
#[derive(Debug, Clone)]
pub struct Template {
    pub series: Vec<TemplateSeries>,
    /// `node_time_seconds - node_boot_time_seconds`; turns counter values into rates.
    pub uptime_seconds: f64,
}

/// Untyped node_exporter families that are levels, not cumulative counts.
const UNTYPED_GAUGES: &[&str] = &["node_netstat_Tcp_CurrEstab", "node_netstat_Ip_Forwarding"];

impl Template {
    /// The template checked into the crate.
    pub fn builtin() -> Result<Template> {
        parse(include_str!("../../data/node_exporter.prom"))
            .context("parsing data/node_exporter.prom")
    }
}

/// Parses Prometheus text exposition as written by node_exporter.
pub fn parse(text: &str) -> Result<Template> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut series = Vec::new();
    for (no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.split_whitespace();
            if words.next() == Some("TYPE") {
                let (Some(family), Some(ty)) = (words.next(), words.next()) else {
                    bail!("line {}: malformed TYPE line", no + 1);
                };
                types.insert(family.to_string(), ty.to_string());
            }
            continue;
        }
        let (name, labels, value_text) =
            parse_sample_line(line).with_context(|| format!("line {}", no + 1))?;
        let value: f64 = value_text
            .parse()
            .map_err(|_| anyhow!("line {}: bad value {value_text:?}", no + 1))?;
        let kind = kind_of(&name, &types);
        series.push(TemplateSeries {
            decimals: printed_decimals(value_text),
            name,
            labels,
            kind,
            value,
        });
    }
    let get = |n: &str| series.iter().find(|s| s.name == n).map(|s| s.value);
    let (Some(now), Some(boot)) = (get("node_time_seconds"), get("node_boot_time_seconds")) else {
        bail!("template lacks node_time_seconds or node_boot_time_seconds");
    };
    if now <= boot {
        bail!("template has node_time_seconds <= node_boot_time_seconds");
    }
    if series.is_empty() {
        bail!("template has no samples");
    }
    Ok(Template {
        series,
        uptime_seconds: now - boot,
    })
}

fn kind_of(name: &str, types: &HashMap<String, String>) -> Kind {
    let family_type = |family: &str| types.get(family).map(String::as_str);
    if let Some(ty) = family_type(name) {
        return match ty {
            "counter" => Kind::Counter,
            "untyped" if !UNTYPED_GAUGES.contains(&name) => Kind::Counter,
            _ => Kind::Gauge,
        };
    }
    // Summary and histogram children: _sum, _count and _bucket accumulate.
    for suffix in ["_sum", "_count", "_bucket"] {
        if let Some(family) = name.strip_suffix(suffix) {
            if matches!(family_type(family), Some("summary" | "histogram")) {
                return Kind::Counter;
            }
        }
    }
    Kind::Gauge
}

/// Splits `name{a="b",...} value` into its parts, unescaping label values.
fn parse_sample_line(line: &str) -> Result<(String, Vec<(String, String)>, &str)> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or_else(|| anyhow!("sample has no value"))?;
    let name = &line[..name_end];
    if !tidemark_model::is_valid_metric_name(name) {
        bail!("invalid metric name {name:?}");
    }
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(after_brace) = rest.strip_prefix('{') {
        let mut chars = after_brace.char_indices().peekable();
        let end;
        loop {
            while chars
                .next_if(|(_, c)| *c == ',' || c.is_whitespace())
                .is_some()
            {}
            match chars.peek() {
                Some((i, '}')) => {
                    end = *i + 1;
                    break;
                }
                None => bail!("unterminated label set"),
                _ => {}
            }
            let mut label = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=') {
                label.push(c);
            }
            if chars.next().is_none() || chars.next().map(|(_, c)| c) != Some('"') {
                bail!("label {label:?} lacks =\"value\"");
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c)) => value.push(c),
                        None => bail!("unterminated escape in label {label:?}"),
                    },
                    Some((_, c)) => value.push(c),
                    None => bail!("unterminated value of label {label:?}"),
                }
            }
            labels.push((label.trim().to_string(), value));
        }
        rest = &after_brace[end..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("sample {name} has no value"))?;
    Ok((name.to_string(), labels, value))
}

/// Digits after the decimal point of the printed value, e.g. `1.675416576e+09` has 0
/// and `0.00021478` has 8; capped so that derived values stay plausible.
fn printed_decimals(text: &str) -> u8 {
    let lower = text.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (lower.as_str(), 0),
    };
    let fraction_digits = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    (fraction_digits - exponent).clamp(0, 9) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r##"
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 185.22
# TYPE node_load1 gauge
node_load1 1.91
# TYPE node_netstat_Tcp_CurrEstab untyped
node_netstat_Tcp_CurrEstab 7
# TYPE node_vmstat_pgfault untyped
node_vmstat_pgfault 1.2e+06
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 2.1e-05
go_gc_duration_seconds_sum 0.0013
# TYPE node_boot_time_seconds gauge
node_boot_time_seconds 1.795253872e+09
# TYPE node_time_seconds gauge
node_time_seconds 1.7952543338539698e+09
# TYPE node_uname_info gauge
node_uname_info{nodename="a \"b\"",version="#1 SMP, x"} 1
"##;

    #[test]
    fn parses_kinds_labels_and_precision() {
        let t = parse(SAMPLE).unwrap();
        let find = |n: &str| t.series.iter().find(|s| s.name == n).unwrap();
        let cpu = find("node_cpu_seconds_total");
        assert_eq!(cpu.kind, Kind::Counter);
        assert_eq!(
            cpu.labels,
            vec![("cpu".into(), "0".into()), ("mode".into(), "idle".into())]
        );
        assert_eq!(cpu.decimals, 2);
        assert_eq!(find("node_load1").kind, Kind::Gauge);
        assert_eq!(find("node_netstat_Tcp_CurrEstab").kind, Kind::Gauge);
        assert_eq!(find("node_vmstat_pgfault").kind, Kind::Counter);
        assert_eq!(find("node_vmstat_pgfault").decimals, 0);
        assert_eq!(find("go_gc_duration_seconds").kind, Kind::Gauge);
        assert_eq!(find("go_gc_duration_seconds_sum").kind, Kind::Counter);
        assert_eq!(find("go_gc_duration_seconds").decimals, 6);
        let uname = find("node_uname_info");
        assert_eq!(uname.labels[0].1, "a \"b\"");
        assert_eq!(uname.labels[1].1, "#1 SMP, x");
        assert!((t.uptime_seconds - 461.85).abs() < 0.01);
    }

    #[test]
    fn bad_lines_are_errors_with_line_numbers() {
        let err = parse("node_load1{cpu=\"0\" 1").unwrap_err();
        assert!(format!("{err:#}").contains("line 1"), "{err:#}");
        assert!(parse("node_load1 abc").is_err());
        assert!(parse("node_load1 1").is_err(), "missing uptime series");
    }

    #[test]
    fn builtin_template_is_node_exporter_sized() {
        let t = Template::builtin().unwrap();
        assert!(t.series.len() > 400, "{}", t.series.len());
        assert!(t.series.iter().any(|s| s.name == "node_cpu_seconds_total"));
    }
}
