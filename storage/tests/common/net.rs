//! Loopback connections from a chosen source address (127.0.0.0/8 has many), so
//! load and attack tests can play several clients. Shared by the server tests and
//! the soak example (`#[path]`), which cannot share a crate.

use std::io;
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::FromRawFd;

/// A TCP connection to `port` on `dst` from the source address `src`.
pub fn connect_from(src: Ipv4Addr, dst: Ipv4Addr, port: u16) -> io::Result<TcpStream> {
    // SAFETY: plain socket calls on a descriptor owned by the TcpStream made
    // right after it is created (closed on every error path).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let s = TcpStream::from_raw_fd(fd);
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from(src).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd, &a as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(io::Error::last_os_error());
        }
        a.sin_addr.s_addr = u32::from(dst).to_be();
        a.sin_port = port.to_be();
        if libc::connect(fd, &a as *const _ as *const libc::sockaddr, len) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(s)
    }
}
