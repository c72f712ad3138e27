//! Cookies as a browser keeps them: `Set-Cookie` parsed with its attributes, and a jar
//! that sends back what it was given.
//!
//! The grader does not use reqwest's cookie store on purpose: a probe must be able to
//! show the exact `Set-Cookie` it got, send an exact `Cookie` header (a forged one, a
//! tampered one, none at all), and say which attribute was missing. A jar this small
//! keeps all of that visible.

use std::fmt;

/// One `Set-Cookie` header: the pair and its attributes, names as the server wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub attributes: Vec<(String, Option<String>)>,
}

impl SetCookie {
    /// Parses `name=value; Attr; Attr=val`; `None` when there is no `name=` pair.
    pub fn parse(header: &str) -> Option<SetCookie> {
        let mut parts = header.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let attributes = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                None => (a.to_string(), None),
            })
            .collect();
        Some(SetCookie {
            name: name.to_string(),
            value: value.trim().trim_matches('"').to_string(),
            attributes,
        })
    }

    /// The value of attribute `name` (case-insensitive); `Some(None)` for a flag.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }

    pub fn has_flag(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// Deleting cookies are sent with an empty value or an expiry in the past.
    pub fn is_removal(&self) -> bool {
        self.value.is_empty() || self.attribute("Max-Age").flatten() == Some("0")
    }
}

impl fmt::Display for SetCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)?;
        for (k, v) in &self.attributes {
            match v {
                Some(v) => write!(f, "; {k}={v}")?,
                None => write!(f, "; {k}")?,
            }
        }
        Ok(())
    }
}

/// Every `Set-Cookie` of a reply that parses.
pub fn set_cookies(headers: &reqwest::header::HeaderMap) -> Vec<SetCookie> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(SetCookie::parse)
        .collect()
}

/// The cookies one visitor holds, in the order first set.
#[derive(Debug, Clone, Default)]
pub struct Jar {
    cookies: Vec<(String, String)>,
}

impl Jar {
    /// Takes in what a reply set: new values replace old ones, removals remove.
    pub fn update(&mut self, set: &[SetCookie]) {
        for cookie in set {
            self.cookies.retain(|(n, _)| n != &cookie.name);
            if !cookie.is_removal() {
                self.cookies
                    .push((cookie.name.clone(), cookie.value.clone()));
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// The cookies' names, in the order first set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.cookies.iter().map(|(n, _)| n.as_str())
    }

    /// The `Cookie` request header, or `None` when the jar is empty.
    pub fn header(&self) -> Option<String> {
        (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_session_cookie_with_its_attributes() {
        let c = SetCookie::parse("chat.sid=abc.def; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200")
            .unwrap();
        assert_eq!((c.name.as_str(), c.value.as_str()), ("chat.sid", "abc.def"));
        assert!(c.has_flag("httponly"));
        assert_eq!(c.attribute("samesite"), Some(Some("Lax")));
        assert_eq!(c.attribute("Secure"), None);
        assert_eq!(
            c.to_string(),
            "chat.sid=abc.def; HttpOnly; SameSite=Lax; Path=/; Max-Age=43200"
        );
        assert!(SetCookie::parse("no pair here").is_none());
        assert!(SetCookie::parse("=x").is_none());
    }

    #[test]
    fn the_jar_replaces_and_removes() {
        let mut jar = Jar::default();
        assert_eq!(jar.header(), None);
        jar.update(&[
            SetCookie::parse("a=1").unwrap(),
            SetCookie::parse("b=2").unwrap(),
        ]);
        jar.update(&[SetCookie::parse("a=3").unwrap()]);
        assert_eq!(jar.header().unwrap(), "b=2; a=3");
        jar.update(&[SetCookie::parse("b=; Max-Age=0").unwrap()]);
        assert_eq!(jar.header().unwrap(), "a=3");
        assert_eq!(jar.get("a"), Some("3"));
    }
}
