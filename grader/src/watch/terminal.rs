//! The terminal while `watch` runs: raw mode, redraws, and putting it back.
//!
//! Raw mode delivers each key press at once and unechoed, so `h` works without Enter.
//! It also leaves the terminal unusable if the grader does not turn it off again, so
//! [`RawMode`] turns it off when dropped (a normal return, an error, an unwinding panic)
//! and a panic hook turns it off before the panic message is printed (raw mode would
//! stair-step it). Ctrl-C cannot skip this: in raw mode it arrives as a key, which quits
//! the loop normally, and SIGINT/SIGTERM from elsewhere end the loop the same way
//! (see `watch::run`).
//!
//! Redraws clear the screen and its scrollback and draw the whole state again, as
//! rustlings does, so the screen always shows one grading, never a scroll of them.

use std::io::Write;
use std::sync::Once;

use anyhow::{Context, Result};
use crossterm::cursor::{MoveTo, MoveToColumn};
use crossterm::queue;
use crossterm::terminal::{Clear, ClearType};

/// Raw mode, on while this lives.
pub struct RawMode(());

impl RawMode {
    pub fn enable() -> Result<RawMode> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = crossterm::terminal::disable_raw_mode();
                previous(info);
            }));
        });
        crossterm::terminal::enable_raw_mode().context("Failed to put the terminal in raw mode")?;
        Ok(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
        // The status line has no newline of its own: leave the shell a fresh line.
        println!();
    }
}

/// Clears the screen and draws `text` from the top left.
pub fn redraw(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    queue!(
        out,
        MoveTo(0, 0),
        Clear(ClearType::All),
        Clear(ClearType::Purge)
    )?;
    // Raw mode turns off the terminal's own newline → carriage return + newline.
    out.write_all(text.replace('\n', "\r\n").as_bytes())?;
    out.flush().context("Failed to draw on the terminal")
}

/// Replaces the last line of the screen (the status line, which has no newline).
pub fn status(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    queue!(out, MoveToColumn(0), Clear(ClearType::CurrentLine))?;
    out.write_all(line.as_bytes())?;
    out.flush().context("Failed to draw on the terminal")
}
