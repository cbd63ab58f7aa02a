fn main() {
    eprintln!("tidemark: not built yet");
    std::process::exit(1);
}
