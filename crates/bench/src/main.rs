fn main() {
    eprintln!("tidemark-bench: not built yet");
    std::process::exit(1);
}
