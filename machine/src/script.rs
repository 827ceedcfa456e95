//! Expect-like console scripting: wait for a regex on the serial output (with a
//! timeout), send text, and report a clear failure with the last console lines.
//!
//! The engine is pure logic (it is fed output bytes and asked what to send), so the
//! native CLI, Node and the browser drive it the same way.

use regex::bytes::Regex;

/// One script step.
#[derive(Debug, Clone)]
pub enum Step {
    /// Wait until the output (after the previous match) matches, within `timeout_ms`.
    Wait {
        /// The pattern.
        re: Regex,
        /// Host milliseconds allowed.
        timeout_ms: u64,
        /// Line number in the script, for messages.
        line: usize,
    },
    /// Send bytes to the console.
    Send(Vec<u8>),
    /// Report a named milestone (the driver prints the time and counters).
    Mark(String),
    /// Save a snapshot of the machine to this file (see [`crate::snapshot`]).
    SaveState(String),
    /// Stop the machine at once with status 0 (after a `savestate` before it is
    /// written, with no guest instruction in between: the disks stay exactly as
    /// the snapshot recorded them).
    Quit,
}

/// A script failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ScriptError {}

/// Parses a script. Lines: `wait [-t SECS] REGEX`, `send TEXT`, `sendline TEXT`,
/// `timeout SECS` (default for later waits), `savestate FILE` (save a snapshot
/// there), `quit` (stop with status 0), `mark NAME` (a milestone the driver
/// reports, e.g. with elapsed time for benchmarks), blank lines and `#` comments.
/// TEXT understands `\n`, `\r`, `\t`, `\\` and `\xNN`.
pub fn parse(text: &str) -> Result<Vec<Step>, ScriptError> {
    let mut steps = Vec::new();
    let mut timeout_ms = 60_000;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (cmd, rest) = l.split_once(' ').unwrap_or((l, ""));
        let err = |m: String| ScriptError(format!("script line {line}: {m}"));
        match cmd {
            "timeout" => {
                let s: f64 = rest
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("bad timeout '{}'", rest.trim())))?;
                timeout_ms = (s * 1000.0) as u64;
            }
            "wait" => {
                let mut pat = rest;
                let mut t = timeout_ms;
                if let Some(r) = rest.strip_prefix("-t ") {
                    let (secs, p) = r
                        .trim_start()
                        .split_once(' ')
                        .ok_or_else(|| err("wait -t SECS REGEX".into()))?;
                    let s: f64 = secs
                        .parse()
                        .map_err(|_| err(format!("bad seconds '{secs}'")))?;
                    t = (s * 1000.0) as u64;
                    pat = p;
                }
                if pat.is_empty() {
                    return Err(err("wait needs a regex".into()));
                }
                let re = Regex::new(pat).map_err(|e| err(format!("bad regex: {e}")))?;
                steps.push(Step::Wait {
                    re,
                    timeout_ms: t,
                    line,
                });
            }
            "send" => steps.push(Step::Send(unescape(rest).map_err(err)?)),
            "mark" if !rest.trim().is_empty() => steps.push(Step::Mark(rest.trim().to_string())),
            "savestate" if !rest.trim().is_empty() => {
                steps.push(Step::SaveState(rest.trim().to_string()))
            }
            "quit" if rest.trim().is_empty() => steps.push(Step::Quit),
            "sendline" => {
                let mut b = unescape(rest).map_err(err)?;
                b.push(b'\n');
                steps.push(Step::Send(b));
            }
            _ => return Err(err(format!("unknown command '{cmd}'"))),
        }
    }
    Ok(steps)
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            i += 1;
            match b[i] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' if i + 2 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 1..i + 3])
                        .map_err(|_| "bad \\x escape".to_string())?;
                    out.push(
                        u8::from_str_radix(h, 16).map_err(|_| format!("bad \\x escape '{h}'"))?,
                    );
                    i += 2;
                }
                c => return Err(format!("unknown escape '\\{}'", c as char)),
            }
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    Ok(out)
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Keep running the guest.
    Continue,
    /// Send these bytes to the console, then keep running.
    Send(Vec<u8>),
    /// A `mark` step was reached: report this milestone, then keep going.
    Mark(String),
    /// A `savestate` step was reached: save a snapshot to this file, then keep going.
    SaveState(String),
    /// A `quit` step was reached: stop the machine (status 0) without running it further.
    Quit,
    /// The script is complete.
    Done,
    /// A wait timed out: the message includes the pattern and the console tail.
    Failed(String),
}

/// A running script: feed it console output and the host time.
pub struct Runner {
    steps: Vec<Step>,
    next: usize,
    out: Vec<u8>,
    matched_upto: usize,
    /// Output length when the current wait last searched without a match: the
    /// search is repeated only after more output arrives (polls come every slice).
    searched_len: Option<usize>,
    wait_started_ms: Option<u64>,
}

impl Runner {
    /// Starts a script.
    pub fn new(steps: Vec<Step>) -> Self {
        Runner {
            steps,
            next: 0,
            out: Vec::new(),
            matched_upto: 0,
            searched_len: None,
            wait_started_ms: None,
        }
    }

    /// Appends guest console output.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Advances the script at host time `now_ms`.
    pub fn poll(&mut self, now_ms: u64) -> Action {
        let Some(step) = self.steps.get(self.next) else {
            return Action::Done;
        };
        match step {
            Step::Send(b) => {
                let b = b.clone();
                self.next += 1;
                Action::Send(b)
            }
            Step::Mark(name) => {
                let name = name.clone();
                self.next += 1;
                Action::Mark(name)
            }
            Step::SaveState(path) => {
                let path = path.clone();
                self.next += 1;
                Action::SaveState(path)
            }
            Step::Quit => {
                self.next += 1;
                Action::Quit
            }
            Step::Wait {
                re,
                timeout_ms,
                line,
            } => {
                if self.searched_len != Some(self.out.len()) {
                    if let Some(m) = re.find(&self.out[self.matched_upto..]) {
                        self.matched_upto += m.end();
                        self.next += 1;
                        self.wait_started_ms = None;
                        self.searched_len = None;
                        return self.poll(now_ms);
                    }
                    self.searched_len = Some(self.out.len());
                }
                let start = *self.wait_started_ms.get_or_insert(now_ms);
                if now_ms.saturating_sub(start) > *timeout_ms {
                    return Action::Failed(format!(
                        "script line {line}: timed out after {:.1} s waiting for /{}/; last console lines:\n{}",
                        *timeout_ms as f64 / 1000.0,
                        re.as_str(),
                        self.tail(20)
                    ));
                }
                Action::Continue
            }
        }
    }

    /// Whether the next step is `quit` (so a `savestate` before it can be
    /// followed by the stop without another slice of the guest).
    pub fn next_is_quit(&self) -> bool {
        matches!(self.steps.get(self.next), Some(Step::Quit))
    }

    /// The last `n` lines of console output.
    pub fn tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.out);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_sends_and_times_out() {
        let steps = parse("timeout 1\nwait login:\nsendline root\\x21\nwait -t 0.5 ^#\n").unwrap();
        let mut r = Runner::new(steps);
        assert_eq!(r.poll(0), Action::Continue);
        r.feed(b"Debian login: ");
        assert_eq!(r.poll(10), Action::Send(b"root!\n".to_vec()));
        assert_eq!(r.poll(20), Action::Continue);
        match r.poll(600) {
            Action::Failed(m) => assert!(m.contains("line 4") && m.contains("Debian login")),
            a => panic!("expected failure, got {a:?}"),
        }
    }

    #[test]
    fn quit_follows_a_savestate_and_takes_no_argument() {
        let mut r = Runner::new(parse("savestate a.snap\nquit\n").unwrap());
        assert_eq!(r.poll(0), Action::SaveState("a.snap".into()));
        assert!(r.next_is_quit());
        assert_eq!(r.poll(0), Action::Quit);
        assert_eq!(r.poll(0), Action::Done);
        assert!(parse("quit now\n").is_err());
    }

    #[test]
    fn marks_are_reported_in_order_after_the_wait_before_them() {
        let mut r = Runner::new(parse("wait shell\nmark shell-ready\nsendline x\n").unwrap());
        assert_eq!(r.poll(0), Action::Continue);
        r.feed(b"shell");
        assert_eq!(r.poll(1), Action::Mark("shell-ready".into()));
        assert_eq!(r.poll(2), Action::Send(b"x\n".to_vec()));
        assert_eq!(r.poll(3), Action::Done);
        assert!(parse("mark").is_err());
    }

    #[test]
    fn matches_only_output_after_the_previous_match() {
        let mut r = Runner::new(parse("wait A\nwait A\n").unwrap());
        r.feed(b"A");
        assert_eq!(r.poll(0), Action::Continue);
        r.feed(b"xA");
        assert_eq!(r.poll(1), Action::Done);
    }

    #[test]
    fn bad_scripts_are_rejected_with_line_numbers() {
        assert!(parse("wait (").unwrap_err().0.contains("line 1"));
        assert!(parse("\nfrobnicate").unwrap_err().0.contains("line 2"));
        assert!(parse("send \\q").is_err());
    }
}
