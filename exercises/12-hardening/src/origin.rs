//! Which web pages may open a socket: the check of the `Origin` header.
//!
//! A browser sends the session cookie with every request to this server, whichever
//! page the request comes from. Without a check, a page on another site can open a
//! socket with the visitor's cookie and be let in as them (cross-site WebSocket
//! hijacking). The browser says which page is asking, in the `Origin` header, and a
//! page cannot change it. Read the chapter `12-hardening`, "Whose page is this?".

// TODO: (2) the origins that may open a socket:
//
//     #[derive(Clone, Debug)]
//     pub struct AllowedOrigins(Arc<Vec<String>>);
//
// with `pub fn from_env(port: u16) -> Result<AllowedOrigins, String>`: the server's own
// origins, `http://127.0.0.1:{port}` and `http://localhost:{port}`, plus those listed in
// `ALLOWED_ORIGINS`, separated by commas (refuse an entry that has a path, or a scheme
// other than http and https); and `pub fn allows(&self, origin: &str) -> bool`, which
// compares whole origins (`eq_ignore_ascii_case`), never prefixes.

// TODO: (3) the middleware that refuses foreign pages:
//
//     pub async fn check_origin(
//         State(allowed): State<AllowedOrigins>,
//         request: Request,
//         next: Next,
//     ) -> Response
//
// For a request to `/socket.io` or under `/socket.io/` (not `/socket.io.min.js`) that
// carries an `Origin` header the server does not allow, answer `403 Forbidden` (and
// print a line saying so); everything else goes on, `next.run(request).await`. A request
// without `Origin` goes on: programs that are not browsers send none, nor does the
// chat page's own polling.
