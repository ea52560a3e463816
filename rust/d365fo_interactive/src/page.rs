//! Which sign-in page the person is sent to. The device code answer names it (`verification_uri`), so an
//! authority that is not Microsoft's, or an answer altered on the way, would choose what is shown and what
//! the browser is told to open. The page is shown and opened only when it passes these rules:
//!
//! - Microsoft's authorities (the global cloud and the national clouds): only Microsoft's device-login pages
//!   ([`MICROSOFT_PAGES`]), over https, without port, query, fragment or credentials.
//! - Any other authority: a conservative URL: https (plain http only to this machine), a host of letters,
//!   digits, '.' and '-', a port only on this machine, a path of letters, digits and `/ . _ ~ -`, no query,
//!   no fragment, no credentials. No character a shell or `cmd.exe /c start` would read as syntax.
//!
//! Anything else is refused: not shown, not opened; the user code is still shown.

use crate::settings::DEFAULT_AUTHORITY;
use crate::validate::{self, HttpUrl};

/// The hosts of Microsoft's Entra ID authorities: the global cloud (and its older names), US Government and
/// China (21Vianet).
pub const MICROSOFT_AUTHORITY_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "login.microsoftonline.us",
    "login-us.microsoftonline.com",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
];

/// Microsoft's device-login pages (host and path), as Entra ID names them in device code answers: v1 sends
/// aka.ms/devicelogin, v2 microsoft.com/devicelogin, personal accounts www.microsoft.com/link; the national
/// clouds use their own devicelogin pages on microsoft.com.
pub const MICROSOFT_PAGES: &[(&str, &str)] = &[
    ("microsoft.com", "/devicelogin"),
    ("www.microsoft.com", "/devicelogin"),
    ("aka.ms", "/devicelogin"),
    ("login.microsoft.com", "/device"),
    ("www.microsoft.com", "/link"),
    ("microsoft.com", "/link"),
    ("microsoft.com", "/deviceloginus"),
    ("microsoft.com", "/deviceloginchina"),
];

/// Whether the authority is one of Microsoft's.
pub fn is_microsoft_authority(authority: &HttpUrl) -> bool {
    authority.scheme == "https" && authority.port.is_none_or(|p| p == 443) && MICROSOFT_AUTHORITY_HOSTS.contains(&authority.host.as_str())
}

/// A sentence for the person when the authority is not the default one (None for the default and the other
/// Microsoft clouds' authorities, which are Microsoft's too).
pub fn authority_notice(authority: &HttpUrl, authority_text: &str) -> Option<String> {
    if is_microsoft_authority(authority) {
        return None;
    }
    let shown = validate::printable_url(authority_text);
    let default_host = DEFAULT_AUTHORITY.trim_start_matches("https://");
    Some(if authority.is_loopback() {
        format!(
            "Signing in with the authority {shown} on this machine, not Microsoft's ({default_host}); a program of this machine answers, not Entra ID."
        )
    } else {
        format!(
            "Signing in with the authority {shown}, which is not Microsoft's ({default_host}); it decides which page you are sent to. Check the D365FO_AUTHORITY variable and the Authority setting if you did not choose it."
        )
    })
}

/// `Ok(())` when the page may be shown and opened; else why it is refused, in words (without the URL).
pub fn judge(authority: &HttpUrl, page: &str) -> Result<(), String> {
    let u = validate::parse_http_url(page).map_err(|why| format!("it is not a usable address ({why})"))?;
    let after_scheme = page.split_once("://").map_or(page, |(_, r)| r);
    let authority_part = &after_scheme[..after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len())];
    if after_scheme.contains('@') || authority_part.contains('@') {
        return Err("it carries a user name or an '@'".into());
    }
    if u.rest.contains(['?', '#']) {
        return Err("it has a query or a fragment".into());
    }
    if is_microsoft_authority(authority) {
        let path = u.rest.strip_suffix('/').unwrap_or(&u.rest).to_ascii_lowercase();
        let listed = u.scheme == "https" && u.port.is_none() && MICROSOFT_PAGES.iter().any(|(h, p)| *h == u.host && *p == path);
        return if listed { Ok(()) } else { Err("it is not one of Microsoft's device-login pages".into()) };
    }
    if u.scheme != "https" && !u.is_loopback() {
        return Err("it is plain http to another machine".into());
    }
    if u.host.contains(':') {
        if !u.is_loopback() {
            return Err("its host is an IPv6 address that is not this machine".into());
        }
    } else if u.host.is_empty() || !u.host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        return Err("its host holds characters other than letters, digits, '.' and '-'".into());
    }
    if u.port.is_some() && !u.is_loopback() {
        return Err("it names a port on another machine".into());
    }
    if !u.rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '~' | '-')) {
        return Err("its path holds characters other than letters, digits and / . _ ~ -".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> HttpUrl {
        validate::parse_http_url(s).unwrap()
    }

    const HOSTILE: &str = "https://microsoft.com.devicelogin.attacker.example/x?a=1&calc.exe&echo|whoami";

    #[test]
    fn microsofts_authorities_send_only_to_microsofts_device_login_pages() {
        for authority in
            ["https://login.microsoftonline.com", "https://login.microsoftonline.us", "https://login.partner.microsoftonline.cn"]
        {
            let a = url(authority);
            assert!(is_microsoft_authority(&a), "{authority}");
            for ok in [
                "https://microsoft.com/devicelogin",
                "https://Microsoft.com/DeviceLogin/",
                "https://aka.ms/devicelogin",
                "https://login.microsoft.com/device",
                "https://www.microsoft.com/link",
                "https://microsoft.com/deviceloginus",
            ] {
                assert_eq!(judge(&a, ok), Ok(()), "{ok}");
            }
            for bad in [
                HOSTILE,
                "https://microsoft.com.devicelogin.attacker.example/devicelogin",
                "https://microsoft.com/devicelogin?x=1",
                "https://microsoft.com/devicelogin#x",
                "https://microsoft.com:8443/devicelogin",
                "https://user@microsoft.com/devicelogin",
                "https://evil.example@microsoft.com/devicelogin",
                "http://microsoft.com/devicelogin",
                "https://microsoft.com/devicelogin/../x",
                "https://microsoft.com/deviceloginx",
                "https://evil.example/devicelogin",
                "https://127.0.0.1/devicelogin",
            ] {
                assert!(judge(&a, bad).is_err(), "{bad}");
            }
        }
    }

    #[test]
    fn other_authorities_get_a_conservative_page_only() {
        let a = url("https://login.contoso-idp.example");
        assert!(!is_microsoft_authority(&a));
        for ok in ["https://login.contoso-idp.example/device", "https://idp.example/a/b.c_d~e-f", "https://microsoft.com/devicelogin"] {
            assert_eq!(judge(&a, ok), Ok(()), "{ok}");
        }
        for bad in [
            HOSTILE,
            "https://idp.example/x?a=1",
            "https://idp.example/x#f",
            "https://u:p@idp.example/x",
            "https://idp.example:8443/x",
            "https://idp.example/a&b",
            "https://idp.example/a|b",
            "https://idp.example/a%20b",
            "https://idp.example/a'b",
            "https://idp_x.example/a",
            "http://idp.example/a",
            "https://[2001:db8::1]/a",
            "javascript:alert(1)",
            "",
        ] {
            assert!(judge(&a, bad).is_err(), "{bad}");
        }
        // This machine (the bundled test authority): its port is allowed, and plain http.
        let local = url("http://127.0.0.1:43121");
        assert_eq!(judge(&local, "http://127.0.0.1:43121/devicelogin"), Ok(()));
        assert_eq!(judge(&local, "http://[::1]:8080/devicelogin"), Ok(()));
        assert!(judge(&local, "http://127.0.0.1:43121/devicelogin?x=1&calc").is_err());
        assert!(judge(&local, HOSTILE).is_err());
    }

    #[test]
    fn reasons_never_carry_the_page() {
        let r = judge(&url("https://login.microsoftonline.com"), HOSTILE).unwrap_err();
        assert!(!r.contains("attacker") && !r.contains("whoami"), "{r}");
        let r = judge(&url("https://idp.example"), HOSTILE).unwrap_err();
        assert!(!r.contains("attacker") && !r.contains("whoami"), "{r}");
    }

    #[test]
    fn a_warning_names_an_authority_that_is_not_microsofts() {
        assert_eq!(authority_notice(&url("https://login.microsoftonline.com"), "https://login.microsoftonline.com"), None);
        assert_eq!(authority_notice(&url("https://login.microsoftonline.us"), "https://login.microsoftonline.us"), None);
        let n = authority_notice(&url("https://idp.example"), "https://idp.example").unwrap();
        assert!(n.contains("https://idp.example") && n.contains("not Microsoft's"), "{n}");
        let n = authority_notice(&url("http://127.0.0.1:1"), "http://127.0.0.1:1").unwrap();
        assert!(n.contains("on this machine"), "{n}");
        assert!(authority_notice(&url("https://login.microsoftonline.com:8443"), "https://login.microsoftonline.com:8443").is_some());
    }
}
