# The README's demo (build.ps1 -Task Demo, tests/demo/Start-Demo.ps1) run as a person or CI runs it: a child
# pwsh against the bundled local authority. The interactive runs are approved or declined through the
# device-login page's own form, as a browser would post it.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:DemoScript = Join-Path $RepoRoot 'tests/demo/Start-Demo.ps1'
    # No display: no browser opens and no clipboard is touched, whatever the machine running the tests has.
    $script:ChildEnv = @{
        DISPLAY = $null; WAYLAND_DISPLAY = $null; D365FO_NO_BROWSER = '1'; D365FO_AUTHORITY = $null
        XDG_CONFIG_HOME = (Join-Path $TestDrive 'config'); TERM = 'dumb'; NO_COLOR = '1'
    }

    function Start-Child([string[]] $Arguments) {
        $psi = [Diagnostics.ProcessStartInfo]::new($PwshExe)
        foreach ($a in @('-NoProfile', '-NonInteractive') + $Arguments) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        foreach ($k in $ChildEnv.Keys) {
            if ($null -eq $ChildEnv[$k]) { $null = $psi.Environment.Remove($k) } else { $psi.Environment[$k] = $ChildEnv[$k] }
        }
        $p = [Diagnostics.Process]::Start($psi)
        $p.StandardInput.Close()
        [pscustomobject]@{ Process = $p; Lines = [Collections.Generic.List[string]]::new(); Pending = $null; StdErr = $p.StandardError.ReadToEndAsync() }
    }

    function Read-ChildUntil($child, [string] $Pattern, [int] $TimeoutSeconds = 60) {
        # Reads stdout lines until one matches (returns it) or stdout ends (returns $null).
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        while ([DateTime]::UtcNow -lt $deadline) {
            if (-not $child.Pending) { $child.Pending = $child.Process.StandardOutput.ReadLineAsync() }
            if (-not $child.Pending.Wait(200)) { continue }
            $line = $child.Pending.Result
            $child.Pending = $null
            if ($null -eq $line) { return $null }
            $child.Lines.Add($line)
            if ($Pattern -and $line -match $Pattern) { return $line }
        }
        throw "No line matching '$Pattern' within $TimeoutSeconds s; so far: $($child.Lines -join ' | ')"
    }

    function Complete-Child($child, [int] $TimeoutSeconds = 60) {
        $null = Read-ChildUntil $child $null $TimeoutSeconds
        if (-not $child.Process.WaitForExit($TimeoutSeconds * 1000)) { $child.Process.Kill($true); throw 'The demo did not exit.' }
        [pscustomobject]@{ ExitCode = $child.Process.ExitCode; Lines = @($child.Lines); Text = $child.Lines -join "`n"; StdErr = $child.StdErr.Result }
    }

    function Start-InteractiveDemo {
        # The demo without -AutoApprove, from its script (the build is the suite's); returns the child, the
        # page URL and the code it printed.
        $child = Start-Child @('-File', $DemoScript, '-ModulePath', $ModulePath, '-FakeAuthority', $FakeAuthorityExe)
        $line = Read-ChildUntil $child 'open (http://127\.0\.0\.1:\d+/devicelogin) and enter the code ([A-Z0-9]+)'
        $null = $line -match 'open (\S+) and enter the code ([A-Z0-9]+)'
        [pscustomobject]@{ Child = $child; Url = $Matches[1]; Code = $Matches[2] }
    }

    function Send-PageForm([string] $Url, [string] $Code, [string] $Action) {
        # What the page's form posts when the person clicks "Sign in" (approve) or "Deny".
        $r = Invoke-WebRequest -Uri $Url -Method Post -Body @{ user_code = $Code; action = $Action } -NoProxy -SkipHttpErrorCheck
        $r.StatusCode | Should -Be 200
        $r.Content
    }
}

Describe 'build.ps1 -Task Demo -AutoApprove' {
    BeforeAll {
        # As CI runs it: the build step is a no-op here (the suite's build is current).
        $child = Start-Child @('-File', (Join-Path $RepoRoot 'build.ps1'), '-Task', 'Demo', '-AutoApprove')
        $script:run = Complete-Child $child 300
    }

    It 'exits 0 and prints the Bearer string as its last line' {
        $run.ExitCode | Should -Be 0 -Because $run.StdErr
        $run.Lines[-1] | Should -Match '^Bearer \S+\.\S+\.\S+$'
    }

    It 'says it signs in to a local test authority, shows the URL and code, and what a script does next' {
        $run.Text | Should -Match 'LOCAL TEST AUTHORITY at http://127\.0\.0\.1:\d+'
        $run.Text | Should -Match 'approves the sign-in by itself after 3 seconds'
        $run.Text | Should -Match 'open http://127\.0\.0\.1:\d+/devicelogin and enter the code [A-Z0-9]{9}'
        $run.Text | Should -Match 'PS> Get-D365ODataTokenInteractive .* \| Set-D365ODataTokenInSession'
        $run.Text | Should -Match 'Signed in as \S+@\S+ for https://contoso\.operations\.dynamics\.com; the token is valid until'
        $run.Text | Should -Match 'Using this session''s token as \S+@\S+ for https://contoso\.operations\.dynamics\.com'
        $run.Text | Should -Match 'What a script does next'
        $run.Text | Should -Match "\`$PSDefaultParameterValues\['\*-D365\*:Token'\]"
    }
}

Describe 'The interactive demo' {
    It 'waits for the person, and returns the token once the code is approved on the page' {
        $demo = Start-InteractiveDemo
        try {
            # The authority polls every 2 s: several polls go by without anyone approving.
            $demo.Child.Process.WaitForExit(6000) | Should -BeFalse
            Send-PageForm $demo.Url $demo.Code 'approve' | Should -Match 'data-result="signed-in"'
            $run = Complete-Child $demo.Child
            $run.ExitCode | Should -Be 0 -Because $run.StdErr
            $run.Text | Should -Match 'Signed in as \S+@\S+ for https://contoso\.operations\.dynamics\.com'
            $run.Lines[-1] | Should -Match '^Bearer \S+\.\S+\.\S+$'
        } finally { if (-not $demo.Child.Process.HasExited) { $demo.Child.Process.Kill($true) } }
    }

    It 'keeps waiting after a wrong code, and ends with exit code 1 and a plain message when the person denies' {
        $demo = Start-InteractiveDemo
        try {
            $wrong = Invoke-WebRequest -Uri $demo.Url -Method Post -Body @{ user_code = 'WRONGCODE'; action = 'approve' } -NoProxy -SkipHttpErrorCheck
            $wrong.StatusCode | Should -Be 400
            $wrong.Content | Should -Match 'data-result="wrong-code"'
            $demo.Child.Process.WaitForExit(3000) | Should -BeFalse
            Send-PageForm $demo.Url $demo.Code 'deny' | Should -Match 'data-result="declined"'
            $run = Complete-Child $demo.Child
            $run.ExitCode | Should -Be 1
            $run.Text | Should -Match 'The sign-in did not complete: The sign-in was declined'
            $run.Text | Should -Match 'error id SignInDeclined'
            $run.Text | Should -Not -Match 'Bearer '
        } finally { if (-not $demo.Child.Process.HasExited) { $demo.Child.Process.Kill($true) } }
    }
}
