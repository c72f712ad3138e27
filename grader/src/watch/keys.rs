//! Key presses for `watch`, read on a thread of their own and sent to the loop.
//!
//! On a terminal (raw mode) each key counts as it is pressed. Without one (stdin or
//! stdout redirected, an editor's task runner, the tests) stdin is read a line at a time
//! and the line's first letter is the key, so `echo q | cargo grade watch` works and an
//! empty line is Enter. Reading blocks, hence the thread: it stays parked in `read` until
//! the process exits, which is harmless.

use tokio::sync::mpsc::UnboundedSender;

use super::Event;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `h`: the first failing hint in full.
    Hint,
    /// `l`: every stage with its progress.
    List,
    /// `r`: grade again now.
    Rerun,
    /// Enter: grade again (how `--manual` is driven).
    Enter,
    /// `q`, Esc, Ctrl-C or Ctrl-D.
    Quit,
}

/// The key a typed letter stands for.
pub fn key_for(c: char) -> Option<Key> {
    match c.to_ascii_lowercase() {
        'h' => Some(Key::Hint),
        'l' => Some(Key::List),
        'r' => Some(Key::Rerun),
        'q' => Some(Key::Quit),
        _ => None,
    }
}

/// The key a line of stdin stands for: its first letter, or Enter when it is empty.
pub fn key_for_line(line: &str) -> Option<Key> {
    match line.trim().chars().next() {
        None => Some(Key::Enter),
        Some(c) => key_for(c),
    }
}

/// Starts the reader: raw key events when `raw`, lines of stdin otherwise.
pub fn spawn(raw: bool, events: UnboundedSender<Event>) {
    let reader = move || {
        if raw {
            read_raw(&events)
        } else {
            read_lines(&events)
        }
    };
    // If the thread cannot start, keys are lost but saves still re-grade.
    let _ = std::thread::Builder::new()
        .name("watch-keys".into())
        .spawn(reader);
}

fn read_raw(events: &UnboundedSender<Event>) {
    use crossterm::event::{self, KeyCode, KeyEventKind, KeyModifiers};
    loop {
        let event = match event::read() {
            Ok(event) => event,
            Err(_) => {
                let _ = events.send(Event::InputClosed);
                return;
            }
        };
        let sent = match event {
            event::Event::Key(key) if key.kind != KeyEventKind::Release => {
                let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                let key = match key.code {
                    KeyCode::Char('c' | 'd') if ctrl => Some(Key::Quit),
                    KeyCode::Char(c) if !ctrl => key_for(c),
                    KeyCode::Enter => Some(Key::Enter),
                    KeyCode::Esc => Some(Key::Quit),
                    _ => None,
                };
                match key {
                    Some(key) => events.send(Event::Key(key)),
                    None => Ok(()),
                }
            }
            event::Event::Resize(..) => events.send(Event::Resized),
            _ => Ok(()),
        };
        if sent.is_err() {
            return; // the loop has ended
        }
    }
}

fn read_lines(events: &UnboundedSender<Event>) {
    use std::io::BufRead;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let sent = match key_for_line(&line) {
            Some(key) => events.send(Event::Key(key)),
            None => events.send(Event::UnknownInput(line)),
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = events.send(Event::InputClosed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stand_for_keys() {
        assert_eq!(key_for_line("q\n"), Some(Key::Quit));
        assert_eq!(key_for_line("  Hint please"), Some(Key::Hint));
        assert_eq!(key_for_line(""), Some(Key::Enter));
        assert_eq!(key_for_line("   "), Some(Key::Enter));
        assert_eq!(key_for_line("l"), Some(Key::List));
        assert_eq!(key_for_line("r"), Some(Key::Rerun));
        assert_eq!(key_for_line("x"), None);
    }
}
