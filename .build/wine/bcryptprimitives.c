/* bcryptprimitives.dll for Wine test prefixes only, never shipped: Rust's std (1.78 and later) takes its
   random numbers from ProcessPrng, which Windows 10 and later export from bcryptprimitives.dll and Wine 8
   does not. This one hands the call to RtlGenRandom (SystemFunction036 in advapi32), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
