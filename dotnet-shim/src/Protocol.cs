using System;
using System.Collections.Generic;

namespace D365fo.Interactive
{
    /// <summary>The JSON protocol across the ABI, mapped in one place (its Rust side: rust/d365fo_interactive/src/
    /// protocol.rs): the requests the cmdlets send, and the answers and events they read. No other file names a
    /// field of the protocol.</summary>
    internal static class Protocol
    {
        private sealed class Request : List<KeyValuePair<string, object>>
        {
            internal Request(string op)
            {
                Add(new KeyValuePair<string, object>("op", op));
                Add(new KeyValuePair<string, object>("casing", Casing(System.Globalization.CultureInfo.CurrentCulture)));
            }

            /// <summary>Adds a field unless its value is null (absent fields take the core's defaults).</summary>
            internal Request With(string key, object value)
            {
                if (value != null) Add(new KeyValuePair<string, object>(key, value));
                return this;
            }

            public override string ToString() => Json.Write(this);
        }

        /// <summary>How this thread's culture lower-cases (d365fo.integrations makes its keys with PowerShell's
        /// <c>$Name.ToLower()</c>, the current culture): the core makes and finds keys the same way. Told by what
        /// the culture does to the two letters where .NET's cultures differ: 'İ' (kept only by the invariant
        /// culture) and 'I' (to 'ı' in the Turkic cultures).</summary>
        internal static string Casing(System.Globalization.CultureInfo culture)
        {
            if ("I".ToLower(culture) == "\u0131") return "turkic";
            return "\u0130".ToLower(culture) == "\u0130" ? "invariant" : "culture";
        }

        internal static string SignIn(string tenant, string url, int timeoutSeconds, bool force, string systemProxy) =>
            new Request("sign_in").With("tenant", tenant).With("url", url).With("timeout_secs", timeoutSeconds).With("force", force).With("system_proxy", systemProxy).ToString();

        internal static string SessionLookup(string bearer) => new Request("session_lookup").With("bearer", bearer).ToString();

        internal static string SessionToken(ulong session, string systemProxy) =>
            new Request("session_token").With("session", (long)session).With("system_proxy", systemProxy).ToString();

        internal static string SettingsGet() => new Request("settings_get").ToString();

        internal static string SettingsSet(List<KeyValuePair<string, object>> values, List<object> reset) =>
            new Request("settings_set").With("values", values).With("reset", reset).ToString();

        internal static string ConfigList() => new Request("config_list").ToString();

        internal static string ConfigActive() => new Request("config_active").ToString();

        internal static string ConfigAdd(string name, string tenant, string url, string systemUrl, string clientId, string clientSecret, bool temporary, bool force, bool dryRun) =>
            new Request("config_add").With("name", name ?? "").With("tenant", tenant).With("url", url).With("systemurl", systemUrl).With("clientid", clientId)
                .With("clientsecret", clientSecret).With("temporary", temporary).With("force", force).With("dry_run", dryRun).ToString();

        internal static string ConfigSetActive(string name, bool temporary, bool dryRun) =>
            new Request("config_set_active").With("name", name ?? "").With("temporary", temporary).With("dry_run", dryRun).ToString();

        internal static string ConfigScan(string path) => new Request("config_scan").With("path", path).ToString();

        internal static string ConfigImport(string path, List<object> names, bool force, bool dryRun) =>
            new Request("config_import").With("path", path).With("names", names).With("force", force).With("dry_run", dryRun).ToString();

        internal static string StoreInfo() => new Request("store_info").ToString();

        internal static string Environment() => new Request("environment").ToString();

        /// <summary>The values (null: unset) the core is to see for the variables it reads.</summary>
        internal static string EnvironmentSet(List<KeyValuePair<string, object>> values) => new Request("environment_set").With("values", values).ToString();

        internal static string SessionClear() => new Request("session_clear").ToString();

        internal static string TestPanic() => new Request("test_panic").ToString();
    }

    /// <summary>Where a token came from (TokenAnswer.source).</summary>
    internal enum TokenSource { DeviceCode, Cache, Refresh }

    /// <summary>The answer to sign_in and session_token.</summary>
    internal sealed class TokenAnswer
    {
        internal TokenSource Source;
        internal ulong Session;
        internal string AccessToken;
        internal DateTimeOffset ExpiresOn;
        internal string Who;
        internal string Tenant;
        internal string Resource;
        /// <summary>The authority's token response as received, less the refresh token and the id token (the core
        /// never hands those out).</summary>
        internal List<KeyValuePair<string, object>> Response;

        internal static TokenAnswer Parse(string json)
        {
            var o = Json.ParseObject(json);
            string source = Json.GetString(o, "source");
            long expiresOn = Json.GetLong(o, "expires_on") ?? 0;
            return new TokenAnswer
            {
                Source = source == "cache" ? TokenSource.Cache : source == "refresh" ? TokenSource.Refresh : TokenSource.DeviceCode,
                Session = (ulong)(Json.GetLong(o, "session") ?? 0),
                AccessToken = Json.GetString(o, "access_token"),
                // The core bounds every lifetime (at most a day), so this never leaves DateTimeOffset's range.
                ExpiresOn = DateTimeOffset.FromUnixTimeSeconds(Math.Max(0, Math.Min(expiresOn, 253402300799L))),
                Who = Json.GetString(o, "who"),
                Tenant = Json.GetString(o, "tenant"),
                Resource = Json.GetString(o, "resource"),
                Response = Json.Object(o, "response") ?? new List<KeyValuePair<string, object>>(),
            };
        }
    }

    /// <summary>One OData configuration (protocol.rs Config).</summary>
    internal sealed class ConfigRecord
    {
        internal string Name, Tenant, Url, SystemUrl, ClientId, ClientSecret;
        internal bool Temporary, Active;

        internal static ConfigRecord From(List<KeyValuePair<string, object>> o) => new ConfigRecord
        {
            Name = Json.GetString(o, "name"),
            Tenant = Json.GetString(o, "tenant"),
            Url = Json.GetString(o, "url"),
            SystemUrl = Json.GetString(o, "systemurl"),
            ClientId = Json.GetString(o, "clientid"),
            ClientSecret = Json.GetString(o, "clientsecret"),
            Temporary = Json.GetBool(o, "temporary"),
            Active = Json.GetBool(o, "active"),
        };

        internal static List<ConfigRecord> ListFrom(List<KeyValuePair<string, object>> answer, string key)
        {
            var all = new List<ConfigRecord>();
            foreach (object c in Json.List(answer, key))
                if (c is List<KeyValuePair<string, object>> o) all.Add(From(o));
            return all;
        }
    }

    /// <summary>A value written to the store, to mirror into PSFramework's live configuration.</summary>
    internal sealed class StoreChange
    {
        internal string FullName;
        internal object Value;

        internal static List<StoreChange> ListFrom(List<KeyValuePair<string, object>> answer)
        {
            var all = new List<StoreChange>();
            foreach (object c in Json.List(answer, "changes"))
                if (c is List<KeyValuePair<string, object>> o) all.Add(new StoreChange { FullName = Json.GetString(o, "full_name"), Value = Json.Get(o, "value") });
            return all;
        }
    }

    /// <summary>The answer to config_add, config_set_active and config_import.</summary>
    internal sealed class ConfigChange
    {
        internal List<ConfigRecord> Configs;
        internal List<StoreChange> Changes;
        internal List<string> Skipped = new List<string>();
        /// <summary>What people should be told (import: a SystemUrl on another host, an active choice taken over).</summary>
        internal List<string> Notes = new List<string>();
        /// <summary>Configurations an import left out (name, reason): a value the sign-in would refuse.</summary>
        internal List<KeyValuePair<string, string>> Refused = new List<KeyValuePair<string, string>>();
        internal bool Temporary, DryRun, ActiveChanged;

        internal static ConfigChange Parse(string json)
        {
            var o = Json.ParseObject(json);
            var c = new ConfigChange
            {
                Configs = ConfigRecord.ListFrom(o, "configs"),
                Changes = StoreChange.ListFrom(o),
                Temporary = Json.GetBool(o, "temporary"),
                DryRun = Json.GetBool(o, "dry_run"),
                ActiveChanged = Json.GetBool(o, "active_changed"),
            };
            foreach (object s in Json.List(o, "skipped")) if (s is string n) c.Skipped.Add(n);
            foreach (object s in Json.List(o, "notes")) if (s is string n) c.Notes.Add(n);
            foreach (object r in Json.List(o, "refused"))
                if (r is List<KeyValuePair<string, object>> entry)
                    c.Refused.Add(new KeyValuePair<string, string>(Json.GetString(entry, "name"), Json.GetString(entry, "reason")));
            return c;
        }
    }

    /// <summary>One setting as the core reports it (settings.rs Report).</summary>
    internal sealed class SettingRecord
    {
        internal string Name, Key, Source, EnvironmentVariable, StoredKey, Description, Problem;
        internal object Value, Default;

        internal static List<SettingRecord> ListFrom(string json, out List<StoreChange> changes)
        {
            var o = Json.ParseObject(json);
            changes = StoreChange.ListFrom(o);
            var all = new List<SettingRecord>();
            foreach (object s in Json.List(o, "settings"))
            {
                if (!(s is List<KeyValuePair<string, object>> r)) continue;
                string source = Json.GetString(r, "source") ?? "";
                all.Add(new SettingRecord
                {
                    Name = Json.GetString(r, "name"),
                    Key = Json.GetString(r, "key"),
                    Value = Json.Get(r, "value"),
                    Source = source.Length > 0 ? char.ToUpperInvariant(source[0]) + source.Substring(1) : source,
                    EnvironmentVariable = Json.GetString(r, "environment_variable"),
                    StoredKey = Json.GetString(r, "stored_key"),
                    Default = Json.Get(r, "default"),
                    Description = Json.GetString(r, "description"),
                    Problem = Json.GetString(r, "problem"),
                });
            }
            return all;
        }
    }

    /// <summary>An event of a running call (protocol.rs Event).</summary>
    internal sealed class CoreEvent
    {
        internal string Kind;
        internal List<KeyValuePair<string, object>> Fields;

        internal string Text(string key) => Json.GetString(Fields, key);
        internal long Number(string key) => Json.GetLong(Fields, key) ?? 0;
        internal bool Flag(string key) => Json.GetBool(Fields, key);

        internal static CoreEvent Parse(string json)
        {
            try
            {
                var o = Json.ParseObject(json);
                return new CoreEvent { Kind = Json.GetString(o, "event") ?? "", Fields = o };
            }
            catch (FormatException) { return null; }
        }
    }

    /// <summary>An error reported by the core: result code, kind and a message fit to show.</summary>
    internal sealed class CoreError
    {
        internal ResultCode Code;
        internal string Kind;
        internal string Message;
        internal string AuthorityError;
        internal string Aadsts;
        internal string ErrorDescription;
        /// <summary>"authority" when the authority itself said the code expired; "client" when its lifetime ran out.</summary>
        internal string Source;

        internal static CoreError FromJson(int code, string json)
        {
            var e = new CoreError { Code = (ResultCode)code, Kind = "unknown", Message = "the native core reported error " + code };
            try
            {
                var o = Json.ParseObject(json);
                e.Kind = Json.GetString(o, "kind") ?? e.Kind;
                e.Message = Json.GetString(o, "message") ?? e.Message;
                e.AuthorityError = Json.GetString(o, "error");
                e.Aadsts = Json.GetString(o, "aadsts");
                e.ErrorDescription = Json.GetString(o, "error_description");
                e.Source = Json.GetString(o, "source");
            }
            catch (FormatException) { }
            return e;
        }
    }
}
