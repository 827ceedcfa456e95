//! The host terminal: raw mode while the guest owns the console, restored on exit.

/// Puts standard input into raw mode while alive (only when it is a terminal).
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    /// Enters raw mode if standard input is a terminal.
    pub fn enter() -> Self {
        // SAFETY: isatty/tcgetattr/tcsetattr on fd 0 with a properly sized termios.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawMode { saved: None };
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            // Keep output post-processing so guest "\n" still returns the carriage.
            t.c_oflag |= libc::OPOST;
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode { saved: Some(saved) }
        }
    }

    /// Whether standard input is an interactive terminal.
    pub fn is_tty(&self) -> bool {
        self.saved.is_some()
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the attributes saved in enter().
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
