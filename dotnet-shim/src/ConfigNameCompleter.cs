using System;
using System.Collections;
using System.Collections.Generic;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace D365fo.Interactive
{
    /// <summary>Tab completion of OData configuration names for every -Name parameter of this module
    /// (Import-D365ODataConfig completes the names found in d365fo.integrations' PSFramework settings).</summary>
    public sealed class ConfigNameCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            CommandAst commandAst, IDictionary fakeBoundParameters)
        {
            string word = (wordToComplete ?? "").Trim('\'', '"');
            var pattern = new WildcardPattern(WildcardPattern.Escape(word) + "*", WildcardOptions.IgnoreCase);
            bool legacy = string.Equals(commandName, "Import-D365ODataConfig", StringComparison.OrdinalIgnoreCase);
            foreach (string name in ConfigStore.NamesForCompletion(legacy))
            {
                if (!pattern.IsMatch(name)) continue;
                yield return new CompletionResult(Quote(name), name, CompletionResultType.ParameterValue, name);
            }
        }

        /// <summary>Single-quotes a name that the parser would not read as one plain word.</summary>
        private static string Quote(string name)
        {
            foreach (char c in name)
            {
                if (!(char.IsLetterOrDigit(c) || c == '-' || c == '_' || c == '.')) return "'" + name.Replace("'", "''") + "'";
            }
            return name;
        }
    }
}
