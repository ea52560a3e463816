# Get-D365ODataTokenInteractive end to end: the real module in a PowerShell runspace against the real fake
# authority on 127.0.0.1. Each case starts an authority with the scenario it needs.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Tenant = 'contoso.onmicrosoft.com'
    $script:Resource = 'https://contoso.operations.dynamics.com'
    $savedEnv = @{}
    foreach ($k in 'D365FO_AUTHORITY', 'D365FO_ENDPOINT_VERSION', 'D365FO_CLIENT_ID', 'D365FO_NO_BROWSER', 'D365FO_CONFIG_DIR', 'XDG_CONFIG_HOME', 'DISPLAY', 'BROWSER') {
        $savedEnv[$k] = [Environment]::GetEnvironmentVariable($k)
    }
    $env:D365FO_CONFIG_DIR = Join-Path $TestDrive 'config'
    $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'xdg'
    $env:D365FO_NO_BROWSER = '1'
    $env:DISPLAY = $null

    function Invoke-SignIn {
        <# Runs the cmdlet in a fresh runspace (as a user's session) and returns everything it produced:
           output, each stream, the $Error list, and the terminating exception if any. #>
        param([hashtable] $Parameters = @{}, [switch] $Async)
        $ps = [powershell]::Create()
        # A caller's try/catch is how a script sees -EnableException's terminating error.
        $null = $ps.AddScript('param($m, $p) Import-Module $m; try { Get-D365ODataTokenInteractive @p } catch { $global:CaughtError = $_ }').AddArgument($ModuleManifest).AddArgument($Parameters)
        if ($Async) { return $ps }
        $thrown = $null
        $output = $ps.Invoke()
        $caught = $ps.Runspace.SessionStateProxy.GetVariable('CaughtError')
        if ($caught) { $thrown = [pscustomobject]@{ ErrorRecord = $caught; Message = $caught.Exception.Message; Text = "$caught $($caught.Exception)" } }
        $result = [pscustomobject]@{
            Output      = @($output)
            Warning     = @($ps.Streams.Warning | ForEach-Object Message)
            Error       = @($ps.Streams.Error)
            Verbose     = @($ps.Streams.Verbose | ForEach-Object Message)
            Debug       = @($ps.Streams.Debug | ForEach-Object Message)
            Information = @($ps.Streams.Information | ForEach-Object { "$($_.MessageData)" })
            Progress    = @($ps.Streams.Progress)
            ErrorList   = @($ps.Runspace.SessionStateProxy.GetVariable('Error'))
            Thrown      = $thrown
        }
        $ps.Runspace.Dispose()
        $ps.Dispose()
        $result
    }

    function Get-AllText($r) {
        # Every stream but the output (which is the token by design), every error record and its exception
        # text, as one string to scan for secrets.
        $parts = $r.Warning + $r.Verbose + $r.Debug + $r.Information +
            @($r.Error + $r.ErrorList | Where-Object { $_ } | ForEach-Object { "$_"; $_.Exception.ToString(); "$($_.FullyQualifiedErrorId)"; "$($_.TargetObject)" }) +
            @($r.Progress | ForEach-Object { "$($_.Activity) $($_.StatusDescription) $($_.CurrentOperation)" })
        if ($r.Thrown) { $parts += $r.Thrown.Text }
        $parts -join "`n"
    }

    function Get-Polls($log) { @($log | Where-Object { $_.path -match '/oauth2/(v2\.0/)?token$' }) }
}

AfterAll {
    foreach ($k in $savedEnv.Keys) { [Environment]::SetEnvironmentVariable($k, $savedEnv[$k]) }
}

Describe 'Signing in with the v1 endpoints (the default)' {
    BeforeAll {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        $env:D365FO_AUTHORITY = $fa.Url
        $env:D365FO_ENDPOINT_VERSION = $null
        $script:r = Invoke-SignIn @{ Tenant = $Tenant; Url = "$Resource/" }
        $script:log = Get-FakeAuthorityLog $fa
    }
    AfterAll { Stop-FakeAuthority $fa }

    It 'returns the string "Bearer", a space and the access token, and nothing else' {
        $r.Thrown | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 1
        $r.Output[0] | Should -BeOfType [string]
        $r.Output[0] | Should -Match '^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$'
        $r.Warning | Should -BeNullOrEmpty
    }

    It 'asks for a device code at {tenant}/oauth2/devicecode with the resource (no trailing slash) and the Azure PowerShell client id' {
        $dc = @($log | Where-Object path -Like '*/oauth2/devicecode*')
        $dc.Count | Should -Be 1
        $dc[0].path | Should -BeLike "/$Tenant/oauth2/devicecode*"
        $dc[0].form.resource | Should -Be $Resource
        $dc[0].form.client_id | Should -Be '1950a258-227b-4e31-a9cf-717495945fc2'
    }

    It 'polls {tenant}/oauth2/token with the device code grant, sending the code as device_code and code' {
        $polls = Get-Polls $log
        $polls.Count | Should -BeGreaterOrEqual 1
        $polls[0].path | Should -Be "/$Tenant/oauth2/token"
        $polls[0].form.grant_type | Should -Be 'urn:ietf:params:oauth:grant-type:device_code'
        $polls[0].form.client_id | Should -Be '1950a258-227b-4e31-a9cf-717495945fc2'
        $polls[0].form.device_code | Should -Not -BeNullOrEmpty
        $polls[0].form.code | Should -Be $polls[0].form.device_code
    }

    It 'waits the interval before the first poll (no fixed sleeps, no faster polling)' {
        $dc = @($log | Where-Object path -Like '*/oauth2/devicecode*')[0]
        $first = (Get-Polls $log)[0]
        ($first.ms - $dc.ms) | Should -BeGreaterOrEqual 950
        ($first.ms - $dc.ms) | Should -BeLessThan 4000
    }

    It 'shows the server''s message with the URL and code, and what happened to clipboard and browser, on the host' {
        $text = $r.Information -join "`n"
        $text | Should -Match 'To sign in, use a web browser to open the page http://127\.0\.0\.1:\d+/devicelogin'
        $text | Should -Match 'enter the code [A-Z0-9]+'
        $text | Should -Match 'Not opening a browser'
        $text | Should -Match 'clipboard'
    }

    It 'reports progress while waiting and completes it at the end' {
        $r.Progress.Count | Should -BeGreaterOrEqual 1
        $r.Progress[-1].RecordType | Should -Be 'Completed'
    }

    It 'never shows the access token, the refresh token or the device code' {
        $fb = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Verbose = $true; Debug = $true }
        $raw = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true }
        $secrets = @($raw.Output[0].access_token, $raw.Output[0].refresh_token) + @(Get-Polls (Get-FakeAuthorityLog $fa) | ForEach-Object { $_.form.device_code } | Select-Object -Unique)
        $fb.Verbose.Count | Should -BeGreaterThan 0
        foreach ($s in $secrets) {
            $s | Should -Not -BeNullOrEmpty
            (Get-AllText $fb).Contains($s) | Should -BeFalse
        }
    }
}

Describe '-RawOutput' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa; $env:D365FO_ENDPOINT_VERSION = $null }

    It 'returns every v1 token response field under its JSON name, numbers as the strings v1 sends' {
        $env:D365FO_ENDPOINT_VERSION = 'v1'
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true }
        $t = $r.Output[0]
        $t.PSObject.TypeNames[0] | Should -Be 'D365fo.Interactive.ODataToken'
        foreach ($f in 'token_type', 'expires_in', 'expires_on', 'not_before', 'resource', 'access_token', 'refresh_token') {
            $t.PSObject.Properties.Name | Should -Contain $f
        }
        $t.token_type | Should -Be 'Bearer'
        $t.resource | Should -Be $Resource
        $t.expires_on | Should -BeOfType [string]
        "$t" | Should -Be "Bearer $($t.access_token)"
    }

    It 'returns the v2 fields (scope, expires_in as a number) with D365FO_ENDPOINT_VERSION=v2, asking for the url + /.default' {
        $env:D365FO_ENDPOINT_VERSION = 'v2'
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; RawOutput = $true }
        $t = $r.Output[0]
        $t.scope | Should -Not -BeNullOrEmpty
        $t.expires_in | Should -BeOfType [long]
        $t.PSObject.Properties.Name | Should -Not -Contain 'resource'
        $log = Get-FakeAuthorityLog $fa
        $dc = @($log | Where-Object path -Like '*/oauth2/v2.0/devicecode*')[-1]
        $dc.form.scope | Should -Be "$Resource/.default offline_access"
        (Get-Polls $log)[-1].path | Should -Be "/$Tenant/oauth2/v2.0/token"
    }

    It 'pipes into Set-D365ODataTokenInSession, which stores the same Bearer string' {
        $env:D365FO_ENDPOINT_VERSION = $null
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; Get-D365ODataTokenInteractive -Tenant $t -Url $u -RawOutput | Set-D365ODataTokenInSession; $global:PSDefaultParameterValues["*:Token"]').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $out = $ps.Invoke()
        $ps.Dispose()
        "$($out[-1])" | Should -Match '^Bearer [A-Za-z0-9_-]+\.'
    }

    It 'pipes the plain output into Set-D365ODataTokenInSession (the original pipeline)' {
        $ps = [powershell]::Create()
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; $b = Get-D365ODataTokenInteractive $t $u; $b | Set-D365ODataTokenInSession; ($global:PSDefaultParameterValues["*:Token"] -eq $b)').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $out = $ps.Invoke()
        $ps.Dispose()
        $out[-1] | Should -BeTrue
    }
}

Describe 'When the sign-in does not succeed' {
    AfterEach { Stop-FakeAuthority $script:fa; $script:fa = $null }

    It 'reports a declined sign-in as a warning and an error record, with no output and no throw' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'decline'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Thrown | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 0
        $r.Warning.Count | Should -Be 1
        $r.Warning[0] | Should -Match 'the sign-in was declined'
        $r.ErrorList[0].FullyQualifiedErrorId | Should -Be 'SignInDeclined'
        $r.ErrorList[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
    }

    It 'throws a terminating error for a declined sign-in with -EnableException' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'decline'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; EnableException = $true }
        $r.Thrown | Should -Not -BeNullOrEmpty
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'SignInDeclined,*'
        $r.Thrown.Message | Should -Match 'the sign-in was declined'
        $r.Warning | Should -BeNullOrEmpty
        $r.Output.Count | Should -Be 0
    }

    It 'reports an expired code' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'expire'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'DeviceCodeExpired,*'
        $r.Thrown.Message | Should -Match 'the code expired'
    }

    It 'stops at -Timeout with its own words' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Timeout = 2 }
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
        $r.Warning[0] | Should -Match 'timed out after 2 seconds \(-Timeout\)'
        $r.ErrorList[0].FullyQualifiedErrorId | Should -Be 'SignInTimedOut'
    }

    It 'stops when the device code expires before -Timeout, saying so' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--expires-in', '2', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Warning[0] | Should -Match 'the device code expired after 2 seconds'
    }

    It 'adds 5 seconds to the wait after slow_down' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'slow_down'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $polls = Get-Polls (Get-FakeAuthorityLog $fa)
        $polls.Count | Should -BeGreaterOrEqual 2
        ($polls[1].ms - $polls[0].ms) | Should -BeGreaterOrEqual 5950
    }

    It 'rides out a transient 503 and still returns the token' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'transient-503'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $r.Warning | Should -BeNullOrEmpty
    }

    It 'reports a garbage answer clearly' {
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'malformed-json'); $env:D365FO_AUTHORITY = $fa.Url
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'InvalidAuthorityResponse,*'
        $r.Thrown.ErrorRecord.CategoryInfo.Category | Should -Be 'InvalidResult'
    }

    It 'reports an authority that is down as a network error' {
        $env:D365FO_AUTHORITY = "http://127.0.0.1:$(Get-FreeLoopbackPort)"
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'NetworkError,*'
        $r.Thrown.ErrorRecord.CategoryInfo.Category | Should -Be 'ConnectionError'
    }
}

Describe 'Parameters that cannot work' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa }

    It 'gives the original message when no Url is given and no configuration is active' {
        $r = Invoke-SignIn @{ Tenant = $Tenant }
        $r.Warning[0] | Should -Match ([regex]::Escape("It seems that you didn't supply a valid value for the Url parameter. You need specify the Url parameter or add a configuration with the Add-D365ODataConfig cmdlet."))
        $r.ErrorList[0].FullyQualifiedErrorId | Should -Be 'UrlMissing'
    }

    It 'refuses a tenant that is not a GUID or a domain name before sending anything' -TestCases @(
        @{ T = 'a/b' }, @{ T = 'x?y' }, @{ T = '../etc' }, @{ T = 'with space' }, @{ T = 'a%2fb' }
    ) {
        param($T)
        $before = (Get-FakeAuthorityLog $fa).Count
        $r = Invoke-SignIn @{ Tenant = $T; Url = $Resource; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'InvalidParameter,*'
        $r.Thrown.Message | Should -Match 'tenant'
        (Get-FakeAuthorityLog $fa).Count | Should -Be $before
    }

    It 'refuses a Url that is not an absolute http(s) URL' {
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = 'contoso.operations.dynamics.com'; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'InvalidParameter,*'
    }

    It 'refuses a -Timeout of <Timeout>' -TestCases @(@{ Timeout = 0 }, @{ Timeout = -5 }) {
        param($Timeout)
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource; Timeout = $Timeout; EnableException = $true }
        $r.Thrown.ErrorRecord.FullyQualifiedErrorId | Should -BeLike 'InvalidParameter,*'
        $r.Thrown.Message | Should -Match 'Timeout'
    }
}

Describe 'Ctrl+C' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-secs', '3600'); $env:D365FO_AUTHORITY = $fa.Url }
    AfterAll { Stop-FakeAuthority $fa }

    It 'stops a sign-in that is waiting within a second, and the next sign-in in the same session works' {
        $rs = [runspacefactory]::CreateRunspace()
        $rs.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $rs
        $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; Get-D365ODataTokenInteractive -Tenant $t -Url $u').AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
        $handle = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ((Get-Polls (Get-FakeAuthorityLog $fa)).Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        (Get-Polls (Get-FakeAuthorityLog $fa)).Count | Should -BeGreaterOrEqual 1
        $sw = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $sw.Elapsed.TotalMilliseconds | Should -BeLessThan 1000
        $handle.IsCompleted | Should -BeTrue
        $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        $ps.Dispose()

        # The same runspace signs in again; this authority approves at once.
        $fb = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        try {
            $ps2 = [powershell]::Create()
            $ps2.Runspace = $rs
            $null = $ps2.AddScript('param($a, $t, $u) $env:D365FO_AUTHORITY = $a; Get-D365ODataTokenInteractive -Tenant $t -Url $u').AddArgument($fb.Url).AddArgument($Tenant).AddArgument($Resource)
            $out = $ps2.Invoke()
            $out[0] | Should -Match '^Bearer '
            $ps2.Dispose()
        } finally { Stop-FakeAuthority $fb; $env:D365FO_AUTHORITY = $fa.Url; $rs.Dispose() }
    }

    It 'stops before the code arrives (a slow authority) within a second' {
        $slow = Start-FakeAuthority @('--interval', '1', '--scenario', 'dc-slow-response', '--delay-secs', '30')
        try {
            $env:D365FO_AUTHORITY = $slow.Url
            $ps = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource } -Async
            $h = $ps.BeginInvoke()
            Start-Sleep -Milliseconds 700
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $sw.Elapsed.TotalMilliseconds | Should -BeLessThan 1000
            $h.IsCompleted | Should -BeTrue
            $ps.Dispose()
        } finally { Stop-FakeAuthority $slow; $env:D365FO_AUTHORITY = $fa.Url }
    }
}

Describe 'Clipboard and browser on a desktop (Xvfb)' -Skip:(-not (Get-Command Xvfb -ErrorAction SilentlyContinue) -or -not (Get-Command xclip -ErrorAction SilentlyContinue)) -Tag $(if ($IsLinux) { 'SkipReason: needs Xvfb and xclip (.ci/run installs them)' } else { 'SkipReason: Linux only (X11 clipboard)' }) {
    BeforeAll {
        $script:x = Start-Xvfb
        $env:DISPLAY = $x.Display
        $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1')
        $env:D365FO_AUTHORITY = $fa.Url
        $script:recorder = Join-Path $TestDrive 'browser-recorder.sh'
        $script:recorded = Join-Path $TestDrive 'browser-urls.txt'
        Set-Content $recorder "#!/bin/sh`necho `"`$1`" >> '$recorded'`n"
        & chmod +x $recorder
    }
    AfterAll {
        Stop-FakeAuthority $fa
        if ($x) { try { $x.Process.Kill() } catch { } }
        $env:DISPLAY = $null; $env:BROWSER = $null; $env:D365FO_NO_BROWSER = '1'
    }

    It 'leaves the user code in the clipboard after the cmdlet returns' {
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        ($r.Information -join "`n") -match 'enter the code ([A-Z0-9-]+)' | Should -BeTrue
        $code = $Matches[1]
        ($r.Information -join "`n") | Should -Match "The device code $code has been copied into your clipboard"
        $clip = & xclip -o -selection clipboard
        $clip | Should -Be $code
    }

    It 'opens the verification URL with the browser named by $BROWSER' {
        $env:BROWSER = $recorder
        $env:D365FO_NO_BROWSER = $null
        Remove-Item $recorded -ErrorAction SilentlyContinue
        $r = Invoke-SignIn @{ Tenant = $Tenant; Url = $Resource }
        $r.Output[0] | Should -Match '^Bearer '
        $deadline = [DateTime]::UtcNow.AddSeconds(5)
        while (-not (Test-Path $recorded) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        (Get-Content $recorded) | Should -Be "$($fa.Url)/devicelogin"
        ($r.Information -join "`n") | Should -Match 'The default browser has been started'
        $env:D365FO_NO_BROWSER = '1'
    }
}

Describe 'Output captured in a variable' {
    BeforeAll { $script:fa = Start-FakeAuthority @('--interval', '1', '--approve-after-polls', '1') }
    AfterAll { Stop-FakeAuthority $fa }

    It 'still shows the code on the host when the token goes into a variable' {
        $r = Invoke-ChildPwsh -Environment @{ D365FO_AUTHORITY = $fa.Url; D365FO_NO_BROWSER = '1'; D365FO_CONFIG_DIR = (Join-Path $TestDrive 'child-config'); DISPLAY = $null } -Command "Import-Module '$ModuleManifest'; `$t = Get-D365ODataTokenInteractive -Tenant $Tenant -Url $Resource; 'captured:' + `$t.StartsWith('Bearer ')"
        $r.StdOut | Should -Match 'enter the code [A-Z0-9]+'
        $r.StdOut | Should -Match 'captured:True'
    }
}
