using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Quant.Cli.Demo;

/// <summary>Facts about the machine that a benchmark table needs beside it.</summary>
internal static class MachineInfo
{
    /// <summary>The CPU model from <c>/proc/cpuinfo</c> where there is one, else the process architecture.</summary>
    public static string CpuModel()
    {
        const string cpuinfo = "/proc/cpuinfo";
        try
        {
            if (File.Exists(cpuinfo))
            {
                foreach (string line in File.ReadLines(cpuinfo))
                {
                    // x86 names the model in "model name"; some Arm kernels only give "Hardware" or "Model".
                    if (line.StartsWith("model name", StringComparison.Ordinal)
                        || line.StartsWith("Hardware", StringComparison.Ordinal)
                        || line.StartsWith("Model", StringComparison.Ordinal))
                    {
                        int colon = line.IndexOf(':', StringComparison.Ordinal);
                        if (colon >= 0 && line.Length > colon + 1) return line[(colon + 1)..].Trim();
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not readable here: fall back to what the runtime knows.
        }
        return $"unknown ({RuntimeInformation.ProcessArchitecture})";
    }
}
