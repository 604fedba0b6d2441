//! The Bomizzel ticketing service. It never creates tables: the schema comes only from
//! `migrations/`, and this build knows which version of it it needs from the embedded files.

fn main() {
    match migrations::embedded_head() {
        Some(version) => println!("bomizzel backend: needs schema version {version}"),
        None => println!("bomizzel backend: no migrations embedded"),
    }
}
