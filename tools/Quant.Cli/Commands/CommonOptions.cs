using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using Quant.Kernels;
using Quant.Runtime;
using Quant.Runtime.OpenCl;

namespace Quant.Cli.Commands;

/// <summary>
/// The options several commands share, and the checks that turn their values into a format, a rule and
/// a thread count. A value that cannot be used is a usage error (exit 2), found before any file is read.
/// </summary>
internal static class CommonOptions
{
    /// <summary>A new <c>--format</c> option (each command gets its own instance).</summary>
    public static Option<string> Format(bool required) => new("--format", "-f")
    {
        Description = "The format's name, as 'quant formats' lists it (q4_0, q8_0, mxfp4, mxfp4_ggml, ...).",
        HelpName = "name",
        Required = required,
    };

    /// <summary>A new <c>--cols</c> option: the row length K.</summary>
    public static Option<int> Columns() => new("--cols", "-k")
    {
        Description = "Elements per row (K, the input dimension); a multiple of the format's block size.",
        HelpName = "K",
        Required = true,
    };

    /// <summary>A new <c>--rule</c> option.</summary>
    public static Option<string?> Rule() => new("--rule")
    {
        Description = "The quantization rule, by name (default: the format's default rule; 'quant formats' lists them).",
        HelpName = "name",
    };

    /// <summary>A new <c>--imatrix</c> option: an importance matrix file for the quantizer.</summary>
    public static Option<string?> Imatrix() => new("--imatrix")
    {
        Description = "An importance matrix: K float32, one per column and the same for every row (llama.cpp's imatrix "
            + "entry for this tensor), given to the quantizer as ggml_quantize_chunk takes it. Rules that do not use one ignore it.",
        HelpName = "FILE.f32",
    };

    /// <summary>
    /// Reads the importance matrix at <paramref name="path"/> (null: none): exactly <paramref name="columns"/>
    /// float32, each finite and not negative (an importance is a mean of squared activations). Anything else is bad data.
    /// </summary>
    public static float[]? ReadImportance(string? path, int columns)
    {
        if (path is null) return null;
        float[] importance = RawFiles.ReadFloatVector(path, "importance matrix", columns);
        for (int i = 0; i < importance.Length; i++)
        {
            if (!float.IsFinite(importance[i]) || importance[i] < 0)
            {
                throw CliException.BadData(string.Create(CultureInfo.InvariantCulture,
                    $"importance matrix '{path}' holds {importance[i]} at column {i}; every importance must be finite and not negative."));
            }
        }
        return importance;
    }

    /// <summary>A new <c>--threads</c> option.</summary>
    public static Option<int> Threads() => new("--threads", "-t")
    {
        Description = "Worker threads; 0 uses every logical core.",
        HelpName = "T",
        DefaultValueFactory = _ => 0,
    };

    /// <summary>A new <c>--backend</c> option: where the kernels run.</summary>
    public static Option<string> BackendOption()
    {
        var option = new Option<string>("--backend")
        {
            Description = "Where the kernels run: cpu (the generated SIMD kernels) or opencl (the generated OpenCL C kernels on an OpenCL device).",
            HelpName = "cpu|opencl",
            DefaultValueFactory = _ => "cpu",
        };
        option.AcceptOnlyFromAmong("cpu", "opencl");
        return option;
    }

    /// <summary>A new <c>--device</c> option: which OpenCL device.</summary>
    public static Option<string?> Device() => new("--device")
    {
        Description = $"The OpenCL device: its index or part of its name (default: ${OpenClDevice.EnvironmentVariable}, else the first GPU, else the first device).",
        HelpName = "NAME",
    };

    /// <summary>The backend a <c>--backend</c> value names.</summary>
    public static Backend ResolveBackend(string? value) => value == "opencl" ? Backend.OpenCl : Backend.Cpu;

    /// <summary>
    /// Places <paramref name="matrix"/> on <paramref name="backend"/>: a device that does not exist is a usage error, an
    /// OpenCL failure (no platform, a failed build) a failure whose line names the call and its status.
    /// </summary>
    public static DeviceQuantMatrix Place(QuantMatrix matrix, Backend backend, string? device, int threads)
    {
        if (backend == Backend.Cpu) return new CpuQuantMatrix(matrix) { Threads = threads };
        try
        {
            return DeviceQuantMatrix.Create(matrix, backend, device);
        }
        catch (ArgumentException e)
        {
            throw CliException.Usage("--device: " + e.Message);
        }
        catch (Exception e) when (e is OpenClException or NotSupportedException)
        {
            throw CliException.Failure("OpenCL: " + e.Message, e);
        }
    }

    /// <summary>The registered format named <paramref name="name"/>, or a usage error that lists the known ones.</summary>
    public static FormatKernels ResolveFormat(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw CliException.Usage("--format needs a format name.");
        if (!QuantFormatRegistry.TryGet(name, out var entry))
        {
            throw CliException.Usage(
                $"unknown format '{name}'; known formats: {string.Join(", ", QuantFormatRegistry.All.Select(e => e.Info.Name))}.");
        }
        return FormatKernels.For(entry);
    }

    /// <summary>Checks that <paramref name="columns"/> is a positive multiple of the format's block size.</summary>
    public static void CheckColumns(QuantFormatInfo format, int columns)
    {
        if (columns <= 0 || columns % format.BlockSize != 0)
        {
            throw CliException.Usage(string.Create(CultureInfo.InvariantCulture,
                $"--cols {columns} is not a positive multiple of {format.Name}'s block size, {format.BlockSize}."));
        }
    }

    /// <summary>Checks that <paramref name="columns"/> is positive (formats without blocks, such as Unquant layers).</summary>
    public static void CheckPositive(string option, int value)
    {
        if (value <= 0)
        {
            throw CliException.Usage(string.Create(CultureInfo.InvariantCulture, $"{option} must be positive; got {value}."));
        }
    }

    /// <summary>The index of the rule named <paramref name="rule"/> (null: the default), or a usage error naming the rules there are.</summary>
    public static int ResolveRule(QuantFormatInfo format, string? rule)
    {
        try
        {
            return format.FindRule(rule);
        }
        catch (QuantFormatException e)
        {
            // FindRule reports an unknown name as bad data; on the command line it is a usage error.
            throw CliException.Usage(e.Message);
        }
    }

    /// <summary>A new <c>--comm</c> option: how the ranks of a tensor-parallel run talk.</summary>
    public static Option<string> Comm() => new("--comm")
    {
        Description = "How the ranks talk: inproc (one thread per rank, this process) or mpi (one process per rank, under mpirun).",
        HelpName = string.Join("|", Quant.Runtime.Distributed.Comm.KindNames),
        DefaultValueFactory = _ => "inproc",
    };

    /// <summary>The transport named by <c>--comm</c>, or a usage error that lists the names.</summary>
    public static Quant.Runtime.Distributed.CommKind ResolveComm(string? name)
    {
        if (!Quant.Runtime.Distributed.Comm.TryParseKind(name, out var kind))
        {
            throw CliException.Usage($"unknown --comm '{name}'; known: {string.Join(", ", Quant.Runtime.Distributed.Comm.KindNames)}.");
        }
        return kind;
    }

    /// <summary>Checks <c>--threads</c>: 0 (all) or a positive count.</summary>
    public static int ResolveThreads(int threads)
    {
        if (threads < 0)
        {
            throw CliException.Usage(string.Create(CultureInfo.InvariantCulture, $"--threads must be 0 (every core) or positive; got {threads}."));
        }
        return threads;
    }
}
