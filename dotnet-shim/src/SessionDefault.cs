using System;
using System.Collections;
using System.Management.Automation;

namespace D365fo.Interactive
{
    /// <summary>The session default of -Token for the D365 commands (d365fo.integrations' data commands among
    /// them). When the token came from this module's sign-in, the default is a script block that asks the core,
    /// each time a command binds -Token, for the session's token, renewed silently when it has less than five
    /// minutes left. The key names only the D365 family, so no other command (Invoke-RestMethod, Invoke-WebRequest)
    /// is ever offered the token.</summary>
    public static class SessionDefault
    {
        /// <summary>The default's key: every D365 command's -Token.</summary>
        internal const string Key = "*-D365*:Token";

        /// <summary>The key d365fo.integrations sets; it matches every command with a -Token, and two different
        /// defaults for one parameter cancel each other, so it is replaced.</summary>
        internal const string OriginalKey = "*:Token";

        /// <summary>What the default yields: the bearer string, and a warning when it could not be renewed.</summary>
        public sealed class Renewal
        {
            public string Bearer { get; internal set; }
            public string Warning { get; internal set; }
        }

        private static readonly object Gate = new object();
        private static readonly System.Collections.Generic.Dictionary<ulong, string> LastBearer = new System.Collections.Generic.Dictionary<ulong, string>();

        /// <summary>What one Set-D365ODataTokenInSession installed: in which runspace, the value it put in the
        /// dictionary, and the grant its script block names (Renew answers only for a live grant).</summary>
        private sealed class Installed
        {
            internal Guid Runspace;
            internal object Value;
            internal string Grant;
            internal ulong Session;
        }

        private static readonly System.Collections.Generic.List<Installed> Installs = new System.Collections.Generic.List<Installed>();

        /// <summary>The session entry's bearer token, renewed when needed. Called by the default's script block,
        /// which names the grant its installation made; once the module is removed from that session (or the
        /// grant is unknown) it answers no token.</summary>
        public static Renewal Renew(ulong session, string grant)
        {
            lock (Gate)
            {
                if (grant == null || !Installs.Exists(i => i.Grant == grant && i.Session == session))
                    return new Renewal
                    {
                        Warning = "The session's token is no longer offered for -Token: d365fo.interactive was removed from this session " +
                                  "(or this default was not set by it). Import the module and run Set-D365ODataTokenInSession again.",
                    };
            }
            string answer = null;
            string failure = null;
            try
            {
                Native.EnsureLoaded();
                int rc = Native.Call(Protocol.SessionToken(session, SystemProxy.ForAuthority()), 0, null, out answer);
                if (rc != 0) failure = CommandFailure.Sentence(CoreError.FromJson(rc, answer).Message);
            }
            catch (Exception e) { failure = "the token could not be renewed: " + e.Message; }
            lock (Gate)
            {
                if (failure == null)
                {
                    string bearer = "Bearer " + TokenAnswer.Parse(answer).AccessToken;
                    LastBearer[session] = bearer;
                    return new Renewal { Bearer = bearer };
                }
                // The last token this default handed out: the command then fails with the service's own answer,
                // after this warning said why and what to do.
                LastBearer.TryGetValue(session, out string last);
                return new Renewal { Bearer = last, Warning = "The session's token for -Token could not be renewed: " + failure };
            }
        }

        /// <summary>Installs the default: a renewing script block for a token of this session, else the string itself.</summary>
        internal static string Install(PSCmdlet cmdlet, string bearerToken)
        {
            object value = bearerToken;
            string kind = "the bearer token given (it is not one of this session's sign-ins, so it is used as it is)";
            string answer = Core.TryCall(Protocol.SessionLookup(bearerToken));
            long? session = null;
            if (answer != null)
            {
                try { session = Json.GetLong(Json.ParseObject(answer), "session"); } catch (FormatException) { }
            }
            string grant = null;
            if (session.HasValue && session.Value > 0)
            {
                grant = Guid.NewGuid().ToString("N");
                lock (Gate) LastBearer[(ulong)session.Value] = bearerToken;
                value = ScriptBlock.Create(
                    "$r = [D365fo.Interactive.SessionDefault]::Renew(" + session.Value + ", '" + grant + "'); if ($r.Warning) { Write-Warning $r.Warning }; $r.Bearer");
                kind = "this session's token, renewed without a new sign-in when it has less than five minutes left";
            }
            Guid runspace = System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty;
            lock (Gate)
            {
                // A later default replaces this runspace's earlier one (its grant is withdrawn).
                Installs.RemoveAll(i => i.Runspace == runspace);
                Installs.Add(new Installed { Runspace = runspace, Value = value, Grant = grant, Session = session.HasValue && session.Value > 0 ? (ulong)session.Value : 0 });
            }

            // Mutate the global dictionary: replacing the variable would lose the user's other defaults.
            PSVariable v = cmdlet.SessionState.PSVariable.Get("global:PSDefaultParameterValues");
            object current = v?.Value is PSObject p ? p.BaseObject : v?.Value;
            if (current is IDictionary dict)
            {
                if (dict.Contains(OriginalKey)) dict.Remove(OriginalKey);
                dict[Key] = value;
            }
            else
            {
                cmdlet.SessionState.PSVariable.Set("global:PSDefaultParameterValues", new Hashtable { [Key] = value });
            }
            return kind;
        }

        /// <summary>At Remove-Module: withdraws what this session's Set-D365ODataTokenInSession installed. The
        /// -Token default goes when it still holds our value (one the user set since is left alone), and the
        /// grant goes, so a copy of the script block answers no token either.</summary>
        internal static void Uninstall(EngineIntrinsics engine)
        {
            Guid runspace = System.Management.Automation.Runspaces.Runspace.DefaultRunspace?.InstanceId ?? Guid.Empty;
            Installed mine;
            lock (Gate)
            {
                mine = Installs.Find(i => i.Runspace == runspace);
                Installs.RemoveAll(i => i.Runspace == runspace);
                if (mine != null && mine.Session != 0 && !Installs.Exists(i => i.Session == mine.Session)) LastBearer.Remove(mine.Session);
            }
            if (mine == null || engine == null) return;
            try
            {
                object current = engine.SessionState.PSVariable.GetValue("global:PSDefaultParameterValues");
                if (current is PSObject p) current = p.BaseObject;
                if (current is IDictionary dict && dict.Contains(Key))
                {
                    object held = dict[Key];
                    if (held is PSObject hp) held = hp.BaseObject;
                    if (ReferenceEquals(held, mine.Value)) dict.Remove(Key);
                }
            }
            catch (Exception) { /* removal must not fail because of this */ }
        }

        /// <summary>Whether any session of this process still has a default installed (tests, diagnostics).</summary>
        internal static bool AnyInstalled { get { lock (Gate) return Installs.Count > 0; } }
    }
}
