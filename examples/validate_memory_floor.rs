//! The lower bound `benches/validate_memory.sh` compares `mfactl validate` with: read one
//! file whole and run saphyr-parser over it, building nothing. Prints the number of events,
//! so that the work cannot be optimised away.

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: validate_memory_floor FILE")?;
    let source = std::fs::read_to_string(path)?;
    let mut events = 0usize;
    for event in saphyr_parser::Parser::new_from_str(&source) {
        event?;
        events += 1;
    }
    writeln!(std::io::stdout(), "{events} events")?;
    Ok(())
}
