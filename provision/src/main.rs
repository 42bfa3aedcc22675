//! `provision`: the EC2 side of a kakaobot deployment (issue 3 fills this in).
fn main() {
    eprintln!("provision: not built yet");
    std::process::exit(2);
}
