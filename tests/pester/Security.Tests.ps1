# What the security review of issue 23 found, through the real module in runspaces of this pwsh: proxy
# credentials never echoed whatever they hold, and the environment handed to the core by the core itself (the
# values the cmdlets see are the ones the core reads, set and unset; the assembly never calls libc's setenv). The other findings are tested where their
# area is: the refresh token (SignIn.Tests.ps1 -RawOutput), the page to open (Reliability.Tests.ps1, hostile
# answers), Remove-Module (TokenInSession.Tests.ps1).

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Resource = 'https://contoso.operations.dynamics.com'
    $script:Names = 'D365FO_AUTHORITY', 'D365FO_NO_BROWSER', 'D365FO_CONFIG_FILE', 'D365FO_HTTP_TIMEOUT_SECS', 'XDG_CONFIG_HOME', 'DISPLAY',
        'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy'
    $script:SavedEnv = @{}
    foreach ($k in $Names) { $SavedEnv[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $null) }
    $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'xdg'
    $env:D365FO_NO_BROWSER = '1'

    function Invoke-InRunspace([string] $Script, [hashtable] $Parameters = @{}) {
        # A fresh runspace of this process (the core and its environment are this process's), every stream kept.
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $p) Import-Module $m; ' + $Script).AddArgument($ModuleManifest).AddArgument($Parameters)
        $output = $ps.Invoke()
        $r = [pscustomobject]@{
            Output    = @($output)
            Warning   = @($ps.Streams.Warning | ForEach-Object Message)
            Text      = (@($ps.Streams.Warning + $ps.Streams.Verbose + $ps.Streams.Debug + $ps.Streams.Information | ForEach-Object { "$_" }) +
                @($ps.Runspace.SessionStateProxy.GetVariable('Error') | Where-Object { $_ } | ForEach-Object { "$_"; $_.Exception.ToString() }) +
                @($ps.Streams.Error | ForEach-Object { "$_"; $_.Exception.ToString() })) -join "`n"
            ErrorList = @($ps.Runspace.SessionStateProxy.GetVariable('Error'))
        }
        $ps.Runspace.Dispose(); $ps.Dispose()
        $r
    }
}

AfterAll {
    foreach ($k in $SavedEnv.Keys) { [Environment]::SetEnvironmentVariable($k, $SavedEnv[$k]) }
}

Describe 'Proxy credentials are never echoed, whatever characters they hold' {
    AfterEach { $env:HTTPS_PROXY = $null; $env:D365FO_AUTHORITY = $null }

    It 'masks <Proxy> in the warning and in $Error, and echoes no port text' -TestCases @(
        @{ Proxy = 'http://alice:S3cr#tPw@127.0.0.1:3128'; Secrets = @('S3cr', 'tPw', 'alice') }
        @{ Proxy = 'http://alice:pa/ss?w0rd@127.0.0.1:3128'; Secrets = @('pa/ss', 'w0rd', 'alice') }
    ) {
        # A non-loopback authority (a loopback one is never proxied); the proxy is refused before anything is sent.
        $env:D365FO_AUTHORITY = 'https://login.proxy-test.invalid'
        $env:HTTPS_PROXY = $Proxy
        $r = Invoke-InRunspace 'Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url $p.Url -Verbose' @{ Url = $Resource }
        $r.Output.Count | Should -Be 0
        $r.Warning.Count | Should -Be 1
        $r.Warning[0] | Should -Match ([regex]::Escape("HTTPS_PROXY: the proxy 'http://***@127.0.0.1:3128' is not valid"))
        $r.Warning[0] | Should -Match 'percent-encoded'
        $r.ErrorList.Count | Should -BeGreaterThan 0
        "$($r.ErrorList[0])" | Should -Match ([regex]::Escape('http://***@127.0.0.1:3128'))
        foreach ($s in $Secrets) { $r.Text.Contains($s) | Should -BeFalse -Because "'$s' is part of the credentials" }
    }
}

Describe 'The environment the core reads is the one the cmdlets see' {
    AfterEach { $env:D365FO_HTTP_TIMEOUT_SECS = $null }

    It 'hands over a value set, changed and removed in the session, each time before the core runs' {
        $r = Invoke-InRunspace @'
$env:D365FO_HTTP_TIMEOUT_SECS = '17'
$a = Get-D365ODataInteractiveSetting HttpTimeoutSeconds
$env:D365FO_HTTP_TIMEOUT_SECS = '25'
$b = Get-D365ODataInteractiveSetting HttpTimeoutSeconds
$env:D365FO_HTTP_TIMEOUT_SECS = $null
$c = Get-D365ODataInteractiveSetting HttpTimeoutSeconds
"$($a.Value)/$($a.Source)", "$($b.Value)/$($b.Source)", "$($c.Value)/$($c.Source)"
'@
        $r.Output | Should -Be @('17/Environment', '25/Environment', '30/Default')
    }

    It 'signs in with the authority the session names at each call, and forgets it once removed' {
        # Two sign-ins in one runspace: D365FO_AUTHORITY changed between them sends the second to the other
        # authority; removed, the core reports the default again.
        $a = Start-FakeAuthority @('--interval', '1')
        $b = Start-FakeAuthority @('--interval', '1')
        try {
            $r = Invoke-InRunspace @'
$env:D365FO_AUTHORITY = $p.A
$first = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url $p.Url -Force
$env:D365FO_AUTHORITY = $p.B
$second = Get-D365ODataTokenInteractive -Tenant contoso.onmicrosoft.com -Url $p.Url -Force
$env:D365FO_AUTHORITY = $null
$s = Get-D365ODataInteractiveSetting Authority
[bool]$first, [bool]$second, "$($s.Value)/$($s.Source)"
'@ @{ A = $a.Url; B = $b.Url; Url = $Resource }
            $r.Output | Should -Be @($true, $true, 'https://login.microsoftonline.com/Default')
            foreach ($fa in $a, $b) {
                @(Get-FakeAuthorityLog $fa | Where-Object path -like '*/devicecode*').Count | Should -Be 1 -Because "each authority gets exactly one sign-in ($($fa.Url))"
            }
        } finally {
            Stop-FakeAuthority $a; Stop-FakeAuthority $b; $env:D365FO_AUTHORITY = $null
        }
    }

    It 'never writes the native environment from the cmdlets: no libc setenv, unsetenv, putenv or clearenv in the assembly' {
        <# The shim used to call libc's setenv under a lock of its own while the core's threads read the
           environment (issue 23, item 8); now only the core sets it, under Rust's environment lock. Read from the
           built assembly's metadata, not the source: every P/Invoke (DllImport, or the stubs LibraryImport
           generates) names its entry point, and a function looked up by name (NativeLibrary.GetExport) has its
           name among the string literals. #>
        $dll = Join-Path $ModulePath 'd365fo.interactive.dll'
        $pe = [Reflection.PortableExecutable.PEReader]::new([IO.MemoryStream]::new([IO.File]::ReadAllBytes($dll)))
        try {
            $md = [Reflection.Metadata.PEReaderExtensions]::GetMetadataReader($pe)
            $imports = foreach ($h in $md.MethodDefinitions) {
                $m = $md.GetMethodDefinition($h)
                $import = $m.GetImport()
                if (-not $import.Name.IsNil) {
                    $md.GetString($import.Name) + '@' + $md.GetString($md.GetModuleReference($import.Module).Name)
                }
            }
            $literals = [Collections.Generic.List[string]]::new()
            $us = [Reflection.Metadata.Ecma335.MetadataTokens]::UserStringHandle(1)
            while (-not $us.IsNil) { $literals.Add($md.GetUserString($us)); $us = [Reflection.Metadata.Ecma335.MetadataReaderExtensions]::GetNextHandle($md, $us) }
        } finally { $pe.Dispose() }
        # The reading works: the Windows imports and the core's entry point, looked up by name, are found.
        $imports | Should -Contain 'LoadLibraryExW@kernel32'
        $literals | Should -Contain 'd365fo_call'
        foreach ($name in 'setenv', 'unsetenv', 'putenv', 'clearenv') {
            @($imports | Where-Object { ($_ -split '@')[0] -eq $name }) | Should -BeNullOrEmpty -Because "the core alone sets the environment ($name imported)"
            @($literals | Where-Object { $_ -eq $name }) | Should -BeNullOrEmpty -Because "the core alone sets the environment ($name looked up)"
        }
    }
}
