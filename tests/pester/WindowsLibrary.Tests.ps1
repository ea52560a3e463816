# The shipped win-x64 library imports only DLLs that every supported Windows (10, 11, Server 2016 and later)
# has: no libgcc, libwinpthread or C++ runtime of mingw, no VC++ redistributable. Its import table is read
# here from the PE file itself (headers, section table, import descriptors), so the check needs no tool.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:Dll = Join-Path $ModulePath 'runtimes/win-x64/native/d365fo_interactive.dll'
    # Under Wine (and on Windows) the module always carries it; on Linux only after a Windows build.
    $script:HaveDll = Test-Path $script:Dll
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $Dll = Join-Path $ModulePath 'runtimes/win-x64/native/d365fo_interactive.dll'

    function Get-PeImport([string] $Path) {
        # The names of the DLLs a PE32+ file imports (its import directory, data directory 1).
        $b = [IO.File]::ReadAllBytes($Path)
        if ($b.Length -lt 64 -or $b[0] -ne 0x4D -or $b[1] -ne 0x5A) { throw "$Path is not a PE file (no MZ header)." }
        $pe = [BitConverter]::ToInt32($b, 0x3C)
        if ([BitConverter]::ToUInt32($b, $pe) -ne 0x4550) { throw "$Path has no PE signature." }
        $coff = $pe + 4
        $sections = [BitConverter]::ToUInt16($b, $coff + 2)
        $optSize = [BitConverter]::ToUInt16($b, $coff + 16)
        $opt = $coff + 20
        if ([BitConverter]::ToUInt16($b, $opt) -ne 0x20B) { throw "$Path is not PE32+ (64-bit)." }
        $importRva = [BitConverter]::ToUInt32($b, $opt + 112 + 8)   # data directory 1 (imports), PE32+ layout
        $table = $opt + $optSize
        $map = {
            param([uint32] $rva)
            for ($i = 0; $i -lt $sections; $i++) {
                $s = $table + 40 * $i
                $va = [BitConverter]::ToUInt32($b, $s + 12); $size = [Math]::Max([BitConverter]::ToUInt32($b, $s + 8), [BitConverter]::ToUInt32($b, $s + 16))
                if ($rva -ge $va -and $rva -lt $va + $size) { return [int]($rva - $va + [BitConverter]::ToUInt32($b, $s + 20)) }
            }
            throw "RVA 0x$('{0:X}' -f $rva) is in no section of $Path."
        }
        $at = & $map $importRva
        $names = while ($true) {
            $nameRva = [BitConverter]::ToUInt32($b, $at + 12)
            if ($nameRva -eq 0) { break }
            $n = & $map $nameRva
            $end = [Array]::IndexOf($b, [byte]0, $n)
            [Text.Encoding]::ASCII.GetString($b, $n, $end - $n)
            $at += 20
        }
        @($names)
    }

    # DLLs of Windows itself, present on every supported version (API sets included).
    $SystemDlls = 'kernel32.dll', 'advapi32.dll', 'user32.dll', 'crypt32.dll', 'ws2_32.dll', 'bcrypt.dll', 'bcryptprimitives.dll',
    'ntdll.dll', 'userenv.dll', 'shlwapi.dll', 'shell32.dll', 'ole32.dll', 'oleaut32.dll', 'secur32.dll', 'msvcrt.dll'
}

Describe 'The win-x64 library' -Skip:(-not $script:HaveDll) -Tag 'SkipReason: Linux only (before the Windows part has built the win-x64 library)' {
    It 'exports the C ABI' {
        $text = [Text.Encoding]::ASCII.GetString([IO.File]::ReadAllBytes($Dll))
        foreach ($f in 'd365fo_abi_version', 'd365fo_call', 'd365fo_cancel_new', 'd365fo_cancel_request', 'd365fo_cancel_free', 'd365fo_string_free', 'd365fo_version') {
            $text | Should -Match "\b$f\b" -Because "the cmdlets bind $f"
        }
    }

    It 'imports only DLLs every supported Windows has (no mingw or VC++ runtime DLL)' {
        $imports = @(Get-PeImport $Dll | ForEach-Object { $_.ToLowerInvariant() })
        $imports | Should -Contain 'kernel32.dll'
        $others = @($imports | Where-Object { $_ -notin $SystemDlls -and $_ -notlike 'api-ms-win-core-*.dll' })
        $others | Should -BeNullOrEmpty -Because "these are not part of Windows: $($others -join ', ')"
    }
}
