//! PromQL function kernels: pure computations over points and labels, wired into
//! the evaluator by name.
