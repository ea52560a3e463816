# The device-login page in a real browser: the real module waits in a runspace (as in a user's session)
# while Debian's Chromium, driven by playwright-core (tests/e2e/device-login.mjs), opens the verification URL,
# types the code the cmdlet put on the clipboard (Xvfb) or printed on the host, and clicks "Sign in" or "Deny".
# Screenshots of the page land in tests/artifacts/ (ignored by git). Skipped only where chromium or node is
# missing; .ci/run installs both.

BeforeDiscovery {
    $script:NoBrowser = -not (Test-Path $(if ($env:CHROMIUM_PATH) { $env:CHROMIUM_PATH } else { '/usr/bin/chromium' })) -or -not (Get-Command node -ErrorAction SilentlyContinue)
}

Describe 'Signing in through the device-login page in Chromium' -Skip:$NoBrowser -Tag $(if ($IsLinux) { 'SkipReason: needs chromium and node (.ci/run installs them)' } else { 'SkipReason: Linux only (Debian''s chromium)' }) {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'Common.ps1')
        $script:Tenant = 'contoso.onmicrosoft.com'
        $script:Resource = 'https://contoso.operations.dynamics.com'
        $script:E2E = Join-Path $RepoRoot 'tests/e2e'
        $script:Artifacts = Join-Path $RepoRoot 'tests/artifacts'
        # Screenshots from an earlier run must not pass for this run's.
        Get-ChildItem $Artifacts -Filter 'device-login-*.png' -ErrorAction SilentlyContinue | Remove-Item
        if (-not (Test-Path (Join-Path $E2E 'node_modules/playwright-core/package.json'))) {
            # A fresh clone: install the pinned playwright-core from the lock file (CI does this in .ci/run).
            & npm ci --prefix $E2E --no-audit --no-fund 2>&1 | Write-Host
            if ($LASTEXITCODE) { throw "npm ci --prefix tests/e2e failed ($LASTEXITCODE): playwright-core is needed to drive Chromium." }
        }

        $script:savedEnv = @{}
        foreach ($k in 'D365FO_AUTHORITY', 'D365FO_ENDPOINT_VERSION', 'D365FO_NO_BROWSER', 'D365FO_CONFIG_FILE', 'XDG_CONFIG_HOME', 'DISPLAY', 'BROWSER') {
            $savedEnv[$k] = [Environment]::GetEnvironmentVariable($k)
        }
        $env:D365FO_CONFIG_FILE = $null
        $env:XDG_CONFIG_HOME = Join-Path $TestDrive 'xdg'
        $env:D365FO_ENDPOINT_VERSION = $null
        $env:D365FO_NO_BROWSER = '1'   # the test plays the browser itself
        $script:Xvfb = if (Get-Command xclip -ErrorAction SilentlyContinue) { Start-Xvfb } else { $null }
        $env:DISPLAY = if ($Xvfb) { $Xvfb.Display } else { $null }
        # manual: nothing but the page approves or declines.
        $script:fa = Start-FakeAuthority @('--interval', '1', '--scenario', 'manual')
        $env:D365FO_AUTHORITY = $fa.Url

        function Start-SignIn {
            <# The cmdlet in a runspace of its own, running while the browser acts; -Timeout bounds a test gone
               wrong. The runspace is out of process (a child pwsh with this environment) because the clipboard
               library keeps one connection per process to the first X server it used, which is gone once this
               file's Xvfb stops, and other test files in this Pester process use the clipboard after this one. #>
            $process = [System.Management.Automation.Runspaces.PowerShellProcessInstance]::new($null, $null, $null, $false)
            $runspace = [runspacefactory]::CreateOutOfProcessRunspace($null, $process)
            $runspace.Open()
            $ps = [powershell]::Create()
            $ps.Runspace = $runspace
            $null = $ps.AddScript('param($m, $t, $u) Import-Module $m; Get-D365ODataTokenInteractive -Tenant $t -Url $u -Timeout 120').
                AddArgument($ModuleManifest).AddArgument($Tenant).AddArgument($Resource)
            $signIn = [pscustomobject]@{ PowerShell = $ps; Handle = $ps.BeginInvoke(); Process = $process }
            $script:Started.Add($signIn)
            $signIn
        }

        function Wait-Prompt($signIn) {
            <# Waits until the cmdlet has shown the URL and code and said what it did with the clipboard; returns
               the URL (information stream) and the code (clipboard under Xvfb, else the host text). #>
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ([DateTime]::UtcNow -lt $deadline) {
                $text = @($signIn.PowerShell.Streams.Information | ForEach-Object { "$($_.MessageData)" }) -join "`n"
                if ($text -match 'clipboard' -and $text -match 'open (http://\S+/devicelogin) and enter the code ([A-Z0-9]+)') {
                    $url = $Matches[1]; $hostCode = $Matches[2]
                    $code = if ($Xvfb) { "$(& timeout 5 xclip -o -selection clipboard)".Trim() } else { $hostCode }
                    return [pscustomobject]@{ Url = $url; Code = $code; HostCode = $hostCode; Text = $text }
                }
                if ($signIn.Handle.IsCompleted) { break }
                Start-Sleep -Milliseconds 100
            }
            throw "The cmdlet did not show the URL and code: $(@($signIn.PowerShell.Streams.Information) -join ' | ') $(@($signIn.PowerShell.Streams.Error) -join ' | ')"
        }

        $script:Started = [Collections.Generic.List[object]]::new()
        function Stop-SignIn($signIn) {
            try { $signIn.PowerShell.Runspace.Dispose(); $signIn.PowerShell.Dispose() } catch { }
            if (-not $signIn.Process.Process.WaitForExit(5000)) { $signIn.Process.Process.Kill() }
        }

        function Complete-SignIn($signIn) {
            try {
                if (-not $signIn.Handle.AsyncWaitHandle.WaitOne(30000)) { throw 'The cmdlet did not return within 30 s of the browser''s answer.' }
                $ps = $signIn.PowerShell
                # What the authority answers (a declined sign-in) stops the script, as the original's rethrow does:
                # EndInvoke throws that error.
                $thrown = $null
                $output = @(try { $ps.EndInvoke($signIn.Handle) | ForEach-Object { "$_" } } catch { $thrown = $_.Exception.InnerException.ErrorRecord })
                $warning = @($ps.Streams.Warning | ForEach-Object Message)
                [pscustomobject]@{ Output = $output; Warning = $warning; Thrown = $thrown }
            } finally { Stop-SignIn $signIn }
        }

        function Invoke-Browser {
            # Runs tests/e2e/device-login.mjs; returns its JSON report with the exit code.
            param([string] $Url, [string] $Code, [string] $Action = 'approve', [string] $Expect, [string] $Screenshot, [string[]] $More = @())
            $nodeArgs = @((Join-Path $E2E 'device-login.mjs'), '--url', $Url, '--code', $Code, '--action', $Action, '--screenshot', (Join-Path $Artifacts $Screenshot)) + $More
            if ($Expect) { $nodeArgs += @('--expect', $Expect) }
            $lines = @(& node @nodeArgs)
            $exit = $LASTEXITCODE
            $report = $lines[-1] | ConvertFrom-Json
            $report | Add-Member ExitCode $exit -PassThru
        }

        function Get-SignIn([string] $Code) {
            Invoke-RestMethod -Uri "$($fa.Url)/_test/signins" -NoProxy | ForEach-Object { $_ } | Where-Object user_code -EQ $Code
        }
    }

    AfterEach {
        # A test that failed half-way leaves no waiting child pwsh behind.
        foreach ($signIn in $Started) { if (-not $signIn.Process.Process.HasExited) { Stop-SignIn $signIn } }
        $Started.Clear()
    }

    AfterAll {
        Stop-FakeAuthority $fa
        Stop-Xvfb $Xvfb
        foreach ($k in $savedEnv.Keys) { [Environment]::SetEnvironmentVariable($k, $savedEnv[$k]) }
    }

    It 'returns a Bearer token once the code is entered and "Sign in" is clicked' {
        $s = Start-SignIn
        $prompt = Wait-Prompt $s
        if ($Xvfb) { $prompt.Text | Should -Match 'The code is on your clipboard' }
        $prompt.Code | Should -Be $prompt.HostCode
        $prompt.Url | Should -Be "$($fa.Url)/devicelogin"

        $page = Invoke-Browser -Url $prompt.Url -Code $prompt.Code -Expect 'signed-in' -Screenshot 'device-login-signed-in.png'
        $r = Complete-SignIn $s

        $page.error | Should -BeNullOrEmpty
        $page.ExitCode | Should -Be 0
        $page.result | Should -Be 'signed-in'
        $page.text | Should -Match "The sign-in with code $($prompt.Code) is approved"
        $r.Output.Count | Should -Be 1
        $r.Output[0] | Should -Match '^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
        $r.Warning | Should -BeNullOrEmpty
        (Get-SignIn $prompt.Code).state | Should -Be 'redeemed'
    }

    It 'shows a page a person can use: English, labelled, focus on the field, a visible focus ring on Tab, marked as a local test authority' {
        $s = Start-SignIn
        $prompt = Wait-Prompt $s
        $page = Invoke-Browser -Url $prompt.Url -Code $prompt.Code -Expect 'signed-in' -Screenshot 'device-login-keyboard.png' -More @('--submit', 'enter')
        $r = Complete-SignIn $s
        $r.Output[0] | Should -Match '^Bearer '
        $page.status | Should -Be 200
        $page.lang | Should -Be 'en'
        $page.formTitle | Should -Match 'Local test authority'
        $page.focusOnLoad | Should -Be 'user_code'
        $page.focusAfterTab.text | Should -Be 'Sign in'
        $page.focusAfterTab.outline | Should -Not -Match '^none'
        $html = (Invoke-WebRequest -Uri $prompt.Url -NoProxy).Content
        $html | Should -Match 'Local test authority — not Microsoft'
    }

    It 'reports a declined sign-in when "Deny" is clicked' {
        $s = Start-SignIn
        $prompt = Wait-Prompt $s
        $page = Invoke-Browser -Url $prompt.Url -Code $prompt.Code -Action 'deny' -Expect 'declined' -Screenshot 'device-login-declined.png'
        $r = Complete-SignIn $s

        $page.ExitCode | Should -Be 0
        $page.result | Should -Be 'declined'
        $page.text | Should -Match 'was declined'
        $r.Output.Count | Should -Be 0
        $r.Warning.Count | Should -Be 0
        $r.Thrown.FullyQualifiedErrorId | Should -Be 'SignInDeclined'
        "$($r.Thrown.CategoryInfo.Category)" | Should -Be 'PermissionDenied'
        $r.Thrown.Exception.Message | Should -Match 'the sign-in was declined at the sign-in page'
    }

    It 'shows an error on the page for a wrong code while the cmdlet keeps waiting; the right code then signs in' {
        $s = Start-SignIn
        $prompt = Wait-Prompt $s
        $wrong = if ($prompt.Code -ne 'ABCDEFGHJ') { 'ABCDEFGHJ' } else { 'JHGFEDCBA' }

        $page = Invoke-Browser -Url $prompt.Url -Code $wrong -Expect 'wrong-code' -Screenshot 'device-login-wrong-code.png'
        $page.ExitCode | Should -Be 0
        $page.result | Should -Be 'wrong-code'
        $page.role | Should -Be 'alert'
        $page.text | Should -Match 'not recognised'
        $page.title | Should -Match '^Error: '

        # The cmdlet goes on polling: the sign-in stays pending and gets polled again after the wrong code.
        $polls = (Get-SignIn $prompt.Code).polls
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ((Get-SignIn $prompt.Code).polls -le $polls -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        (Get-SignIn $prompt.Code).polls | Should -BeGreaterThan $polls
        (Get-SignIn $prompt.Code).state | Should -Be 'pending'
        $s.Handle.IsCompleted | Should -BeFalse

        # Another wrong try, then the right code in the same page (the error page keeps the form).
        $page = Invoke-Browser -Url $prompt.Url -Code $prompt.Code -Expect 'signed-in' -Screenshot 'device-login-after-wrong-code.png' -More @('--first-code', $wrong)
        $r = Complete-SignIn $s
        $page.ExitCode | Should -Be 0
        $page.first.result | Should -Be 'wrong-code'
        $page.first.invalid | Should -Be 'true'
        $page.result | Should -Be 'signed-in'
        $r.Output[0] | Should -Match '^Bearer '
    }

    It 'saves a screenshot of each page as a test artifact' {
        foreach ($name in 'device-login-signed-in.png', 'device-login-declined.png', 'device-login-wrong-code.png') {
            $file = Join-Path $Artifacts $name
            $file | Should -Exist
            $bytes = [IO.File]::ReadAllBytes($file)
            $bytes.Length | Should -BeGreaterThan 1000
            [BitConverter]::ToString($bytes, 0, 8) | Should -Be '89-50-4E-47-0D-0A-1A-0A'   # PNG signature
        }
    }
}
