# The commands keep the parameters of d365fo.integrations exactly, so users' scripts keep working.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module $ModuleManifest -Force
    function Get-ParameterFacts([string] $Command, [string] $Name) {
        $cmd = Get-Command $Command
        $p = $cmd.Parameters[$Name]
        $attr = @($p.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
        [pscustomobject]@{
            Type                            = $p.ParameterType
            Aliases                         = @($p.Aliases)
            Positions                       = @($attr.Position)
            Mandatory                       = @($attr.Mandatory)
            ValueFromPipeline               = @($attr.ValueFromPipeline)
            ValueFromPipelineByPropertyName = @($attr.ValueFromPipelineByPropertyName)
            DontShow                        = @($attr.DontShow)
            Sets                            = @($p.ParameterSets.Keys)
        }
    }
}

Describe 'The module' {
    It 'exports exactly the documented commands' {
        $names = (Get-Command -Module d365fo.interactive).Name | Sort-Object
        $names | Should -Contain 'Get-D365ODataTokenInteractive'
        $names | Should -Contain 'Set-D365ODataTokenInSession'
        (Get-Module d365fo.interactive).ExportedCmdlets.Keys | Sort-Object | Should -Be $names
    }

    It 'has a manifest that Test-ModuleManifest accepts, for both editions, with Gallery metadata' {
        $m = Test-ModuleManifest $ModuleManifest -ErrorAction Stop
        $m.Guid | Should -Be '7c0d394b-a32e-4c03-8701-2ee5bdc96a4e'
        $m.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $m.PowerShellVersion | Should -Be ([version]'5.1')
        $m.Author | Should -Not -BeNullOrEmpty
        $m.Description | Should -Not -BeNullOrEmpty
        foreach ($t in 'PSEdition_Core', 'PSEdition_Desktop', 'Windows', 'Linux', 'MacOS', 'D365FO') { $m.Tags | Should -Contain $t }
        $m.LicenseUri | Should -Not -BeNullOrEmpty
        $m.ProjectUri | Should -Not -BeNullOrEmpty
    }

    It 'declares its exports explicitly (no wildcards) in the manifest' {
        $data = Import-PowerShellDataFile $ModuleManifest
        $data.CmdletsToExport | Should -Not -Contain '*'
        $data.ContainsKey('FunctionsToExport') | Should -BeTrue
        $data.ContainsKey('AliasesToExport') | Should -BeTrue
        $data.FunctionsToExport | Should -Not -Contain '*'
    }

    It 'carries the manifest version from Cargo.toml' {
        $toml = Get-Content -Raw (Join-Path $RepoRoot 'Cargo.toml')
        $toml -match '(?ms)^\[workspace\.package\].*?^version\s*=\s*"([^"]+)"' | Should -BeTrue
        (Import-PowerShellDataFile $ModuleManifest).ModuleVersion | Should -Be $Matches[1]
        [D365fo.Interactive.NativeCore]::Version | Should -Be $Matches[1]
    }
}

Describe 'Get-D365ODataTokenInteractive parameters' {
    It 'has one parameter set, named Default, which is the default' {
        $cmd = Get-Command Get-D365ODataTokenInteractive
        $cmd.DefaultParameterSet | Should -Be 'Default'
        @($cmd.ParameterSets.Name) | Should -Be @('Default')
    }

    It 'has the original''s Tenant, Url, Timeout, EnableException and RawOutput, and Force (added), besides the common parameters' {
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $own = (Get-Command Get-D365ODataTokenInteractive).Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object
        $own | Should -Be @('EnableException', 'Force', 'RawOutput', 'Tenant', 'Timeout', 'Url')
    }

    It 'takes Force as a named switch, in every parameter set' {
        $f = Get-ParameterFacts Get-D365ODataTokenInteractive Force
        $f.Type | Should -Be ([switch])
        $f.Positions | Should -Be @([int]::MinValue)
        $f.Sets | Should -Be @('__AllParameterSets')
    }

    It 'takes Tenant as a string at position 0 with the alias $AadGuid' {
        $f = Get-ParameterFacts Get-D365ODataTokenInteractive Tenant
        $f.Type | Should -Be ([string])
        $f.Positions | Should -Be @(0)
        $f.Aliases | Should -Be @('$AadGuid')
        $f.Mandatory | Should -Be @($false)
        $f.ValueFromPipeline | Should -Be @($false)
        $f.ValueFromPipelineByPropertyName | Should -Be @($false)
        $f.DontShow | Should -Be @($false)
        $f.Sets | Should -Be @('__AllParameterSets')
    }

    It 'takes Url as a string at position 1 with the aliases Uri and Resource' {
        $f = Get-ParameterFacts Get-D365ODataTokenInteractive Url
        $f.Type | Should -Be ([string])
        $f.Positions | Should -Be @(1)
        ($f.Aliases | Sort-Object) | Should -Be @('Resource', 'Uri')
        $f.Mandatory | Should -Be @($false)
        $f.ValueFromPipeline | Should -Be @($false)
        $f.ValueFromPipelineByPropertyName | Should -Be @($false)
    }

    It 'takes Timeout as an int at position 2, hidden from tab completion, defaulting to 300' {
        $f = Get-ParameterFacts Get-D365ODataTokenInteractive Timeout
        $f.Type | Should -Be ([int])
        $f.Positions | Should -Be @(2)
        $f.DontShow | Should -Be @($true)
        $f.Mandatory | Should -Be @($false)
        $f.Aliases | Should -BeNullOrEmpty
        ([D365fo.Interactive.GetD365ODataTokenInteractiveCommand]::new()).Timeout | Should -Be 300
    }

    It 'has EnableException and RawOutput as named switches' -TestCases @(@{ Name = 'EnableException' }, @{ Name = 'RawOutput' }, @{ Name = 'Force' }) {
        param($Name)
        $f = Get-ParameterFacts Get-D365ODataTokenInteractive $Name
        $f.Type | Should -Be ([switch])
        $f.Positions | Should -Be @([int]::MinValue)
        $f.Mandatory | Should -Be @($false)
        $f.ValueFromPipeline | Should -Be @($false)
    }

    It 'leaves Timeout out of tab completion but completes the other parameters' {
        $line = 'Get-D365ODataTokenInteractive -'
        $completions = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $completions | Should -Contain '-Tenant'
        $completions | Should -Contain '-Url'
        $completions | Should -Not -Contain '-Timeout'
    }

    It 'binds the three positions in the original order' {
        $ast = { Get-D365ODataTokenInteractive contoso.onmicrosoft.com https://contoso.operations.dynamics.com 42 }.Ast.EndBlock.Statements[0].PipelineElements[0]
        $bound = [System.Management.Automation.Language.StaticParameterBinder]::BindCommand($ast, $true)
        $bound.BoundParameters['Tenant'].ConstantValue | Should -Be 'contoso.onmicrosoft.com'
        $bound.BoundParameters['Url'].ConstantValue | Should -Be 'https://contoso.operations.dynamics.com'
        $bound.BoundParameters['Timeout'].ConstantValue | Should -Be 42
    }
}

Describe 'Set-D365ODataTokenInSession parameters' {
    It 'has exactly one parameter, BearerToken: a mandatory string at position 0 from the pipeline by value' {
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $own = (Get-Command Set-D365ODataTokenInSession).Parameters.Keys | Where-Object { $_ -notin $common }
        @($own) | Should -Be @('BearerToken')
        $f = Get-ParameterFacts Set-D365ODataTokenInSession BearerToken
        $f.Type | Should -Be ([string])
        $f.Positions | Should -Be @(0)
        $f.Mandatory | Should -Be @($true)
        $f.ValueFromPipeline | Should -Be @($true)
        $f.ValueFromPipelineByPropertyName | Should -Be @($false)
        $f.Aliases | Should -BeNullOrEmpty
    }
}
