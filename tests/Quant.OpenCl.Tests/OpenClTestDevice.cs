using System;
using System.Collections.Generic;
using Quant.Kernels;
using Quant.Runtime.OpenCl;

namespace Quant.OpenCl.Tests;

/// <summary>
/// The device the suite runs on, probed once: the one <see cref="OpenClDevice.Select"/> picks (QUANT_OPENCL_DEVICE, else
/// the first GPU, else the first device; PoCL on a machine without a GPU). Without any OpenCL platform the tests are
/// skipped with the reason, except under CI=true, where CI installs PoCL and a missing platform is a failure.
/// </summary>
internal static class OpenClTestDevice
{
    private static readonly Lazy<(OpenClContext? Context, string? Reason)> s_probe = new(Probe);

    /// <summary>The reason every OpenCL test is skipped, or null when they run.</summary>
    public static string? SkipReason
    {
        get
        {
            var (context, reason) = s_probe.Value;
            if (context is not null) return null;
            // Under CI the tests run, and fail in Context with the reason.
            return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? null : "No OpenCL device: " + reason;
        }
    }

    /// <summary>The shared context of the device under test.</summary>
    public static OpenClContext Context => s_probe.Value.Context
        ?? throw new InvalidOperationException("No OpenCL device, and CI=true demands one (CI installs pocl-opencl-icd): " + s_probe.Value.Reason);

    private static (OpenClContext?, string?) Probe()
    {
        try
        {
            var devices = OpenClDevice.All(out string? reason);
            if (devices.Count == 0) return (null, reason);
            return (OpenClContext.Shared(), null);
        }
        catch (Exception e) when (e is OpenClException or ArgumentException or DllNotFoundException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>Every registered format with OpenCL kernels, as theory data (a format added later is covered without editing a test).</summary>
    public static TheoryData<string> Formats()
    {
        var data = new TheoryData<string>();
        foreach (var entry in QuantCatalog.All)
        {
            if (entry.OpenClSource is not null) data.Add(entry.Info.Name);
        }
        return data;
    }

    /// <summary>The registered formats without OpenCL kernels (none in the catalogue).</summary>
    public static IReadOnlyList<string> FormatsWithoutKernels()
    {
        var names = new List<string>();
        foreach (var entry in QuantCatalog.All)
        {
            if (entry.OpenClSource is null) names.Add(entry.Info.Name);
        }
        return names;
    }
}

/// <summary>A fact that needs an OpenCL device: skipped, with the reason, where there is none (but not under CI=true).</summary>
public sealed class OpenClFactAttribute : FactAttribute
{
    public OpenClFactAttribute()
    {
        if (OpenClTestDevice.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs an OpenCL device: skipped, with the reason, where there is none (but not under CI=true).</summary>
public sealed class OpenClTheoryAttribute : TheoryAttribute
{
    public OpenClTheoryAttribute()
    {
        if (OpenClTestDevice.SkipReason is { } reason) Skip = reason;
    }
}
