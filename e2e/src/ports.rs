//! Free loopback ports.
//!
//! The kernel picks a free port (bind to port 0); the listener is then closed and the port handed
//! to a child process. A process-wide set makes sure one test run never hands out a port twice,
//! which leaves only the small race with unrelated programs on the machine.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use crate::Error;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback TCP port that nothing listened on a moment ago and that this process has not
/// handed out before.
pub fn free_port() -> Result<u16, Error> {
    for _ in 0..64 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|source| Error::io("binding a free port", "127.0.0.1:0", source))?;
        let port = listener
            .local_addr()
            .map_err(|source| Error::io("reading a bound port", "127.0.0.1:0", source))?
            .port();
        let mut guard = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    Err(Error::NoFreePort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..20).map(|_| free_port().expect("port")).collect();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len());
        let listener = TcpListener::bind(("127.0.0.1", ports[0])).expect("bind handed-out port");
        assert_eq!(listener.local_addr().expect("addr").port(), ports[0]);
    }
}
