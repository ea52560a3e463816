# Set-D365ODataTokenInSession makes every command with a -Token parameter get the token by default.
# Each case runs in a fresh pwsh, as a user's session would (Pester's own scopes would shadow the defaults).

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    function Invoke-InSession([string] $Script) {
        $prelude = "Import-Module '$ModuleManifest'; function Get-TokenSeen { [CmdletBinding()] param([string] `$Token) `"seen:`$Token`" }; "
        $r = Invoke-ChildPwsh -Command ($prelude + $Script)
        $r.StdErr | Should -BeNullOrEmpty
        $r.StdOut.Trim()
    }
}

Describe 'Set-D365ODataTokenInSession' {
    It 'gives a function with a -Token parameter the token, when given by parameter' {
        Invoke-InSession "Set-D365ODataTokenInSession -BearerToken 'Bearer abc.def'; Get-TokenSeen" | Should -Be 'seen:Bearer abc.def'
    }

    It 'gives the token when it comes from the pipeline' {
        Invoke-InSession "'Bearer from.pipeline' | Set-D365ODataTokenInSession; Get-TokenSeen" | Should -Be 'seen:Bearer from.pipeline'
    }

    It 'takes the token by position' {
        Invoke-InSession "Set-D365ODataTokenInSession 'Bearer positional'; Get-TokenSeen" | Should -Be 'seen:Bearer positional'
    }

    It 'sets *:Token in the global dictionary, mutating it and keeping the other defaults' {
        $out = Invoke-InSession @'
$PSDefaultParameterValues['Keep-Me:Please'] = 'kept'
$before = $global:PSDefaultParameterValues
Set-D365ODataTokenInSession -BearerToken 'Bearer x'
"same:$([object]::ReferenceEquals($before, $global:PSDefaultParameterValues))"
"token:$($global:PSDefaultParameterValues['*:Token'])"
"kept:$($global:PSDefaultParameterValues['Keep-Me:Please'])"
'@
        $out -split "\r?\n" | Should -Be @('same:True', 'token:Bearer x', 'kept:kept')
    }

    It 'reaches the global scope when called from inside a function with its own defaults' {
        Invoke-InSession "function Inner { `$PSDefaultParameterValues = @{}; Set-D365ODataTokenInSession -BearerToken 'Bearer deep' }; Inner; Get-TokenSeen" | Should -Be 'seen:Bearer deep'
    }

    It 'refuses a missing token' {
        Import-Module $ModuleManifest -Force
        { Set-D365ODataTokenInSession -BearerToken $null } | Should -Throw -ErrorId 'ParameterArgumentValidationErrorNullNotAllowed,D365fo.Interactive.SetD365ODataTokenInSessionCommand'
    }
}
