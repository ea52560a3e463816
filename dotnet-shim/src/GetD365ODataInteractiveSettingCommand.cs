using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace D365fo.Interactive
{
    /// <summary>Get-D365ODataInteractiveSetting: each setting of the sign-in with its effective value and where it
    /// comes from (Environment, Stored, Default), as the core resolves it.</summary>
    [Cmdlet(VerbsCommon.Get, "D365ODataInteractiveSetting", HelpUri = HelpLinks.GetSetting)]
    [OutputType("D365fo.Interactive.ODataInteractiveSetting")]
    public sealed class GetD365ODataInteractiveSettingCommand : PSCmdlet
    {
        /// <summary>Which settings (wildcards); all by default.</summary>
        [Parameter(Position = 0)]
        [ArgumentCompleter(typeof(SettingNameCompleter))]
        public string[] Name { get; set; }

        [Parameter]
        public SwitchParameter EnableException { get; set; }

        protected override void ProcessRecord()
        {
            // A command of this module only: an unreadable store is an error, shown as one.
            string answer = Core.Call(this, EnableException, Protocol.SettingsGet(), null, asError: true);
            if (answer == null) return;
            var patterns = new List<WildcardPattern>();
            foreach (string n in Name ?? new[] { "*" }) patterns.Add(new WildcardPattern(n, WildcardOptions.IgnoreCase));
            int shown = 0;
            foreach (SettingRecord s in SettingRecord.ListFrom(answer, out _))
            {
                if (!patterns.Exists(p => p.IsMatch(s.Name))) continue;
                WriteObject(ToOutput(s));
                shown++;
            }
            if (shown == 0)
                CommandFailure.Stop(this, EnableException, "SettingNotFound", ErrorCategory.ObjectNotFound, $"No setting is named '{string.Join("', '", Name)}'.", Name);
        }

        internal static PSObject ToOutput(SettingRecord s)
        {
            var pso = new PSObject();
            pso.TypeNames.Insert(0, ConfigObjects.SettingTypeName);
            pso.Properties.Add(new PSNoteProperty("Name", s.Name));
            pso.Properties.Add(new PSNoteProperty("Value", s.Value));
            pso.Properties.Add(new PSNoteProperty("Source", s.Source));
            pso.Properties.Add(new PSNoteProperty("EnvironmentVariable", s.EnvironmentVariable));
            pso.Properties.Add(new PSNoteProperty("Default", s.Default));
            pso.Properties.Add(new PSNoteProperty("Description", s.Description));
            pso.Properties.Add(new PSNoteProperty("Problem", s.Problem));
            ConfigObjects.SetDefaultDisplay(pso, new[] { "Name", "Value", "Source", "Problem" });
            return pso;
        }
    }

    /// <summary>Completes setting names, as the core lists them.</summary>
    public sealed class SettingNameCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string word = (wordToComplete ?? "").Trim('\'', '"');
            string answer = Core.TryCall(Protocol.SettingsGet());
            if (answer == null) yield break;
            List<SettingRecord> all;
            try { all = SettingRecord.ListFrom(answer, out _); } catch (FormatException) { yield break; }
            foreach (SettingRecord s in all)
                if (s.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase))
                    yield return new CompletionResult(s.Name, s.Name, CompletionResultType.ParameterValue, s.Description ?? s.Name);
        }
    }
}
