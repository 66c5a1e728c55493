using System;
using System.Text;

namespace Quant.Runtime.OpenCl;

/// <summary>A program built for one device; <see cref="CreateKernel"/> makes kernel objects of it.</summary>
public sealed unsafe class OpenClProgram : IDisposable
{
    private readonly ProgramHandle _handle;

    private OpenClProgram(OpenClContext context, ProgramHandle handle, double buildSeconds, string buildLog)
    {
        Context = context;
        _handle = handle;
        BuildSeconds = buildSeconds;
        BuildLog = buildLog;
    }

    /// <summary>The context it was built in.</summary>
    public OpenClContext Context { get; }

    /// <summary>How long the driver took to build it, seconds.</summary>
    public double BuildSeconds { get; }

    /// <summary>The compiler's log of the successful build (warnings; with NVIDIA's <c>-cl-nv-verbose</c>, registers and spills per kernel).</summary>
    public string BuildLog { get; }

    internal static OpenClProgram Build(OpenClContext context, string source, string options)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        byte[] text = Encoding.UTF8.GetBytes(source);
        int status;
        nint program;
        fixed (byte* s = text)
        {
            byte* strings = s;
            nuint length = (nuint)text.Length;
            program = OpenClNative.clCreateProgramWithSource(context.ContextValue, 1, &strings, &length, &status);
        }
        OpenClNative.Check(status, "clCreateProgramWithSource");
        var handle = new ProgramHandle(program);
        nint device = context.Device.DeviceId;
        byte[] optionBytes = Encoding.UTF8.GetBytes(options + "\0");
        fixed (byte* o = optionBytes) status = OpenClNative.clBuildProgram(program, 1, &device, o, 0, 0);
        if (status != OpenClNative.Success)
        {
            string log = ReadBuildLog(program, device);
            handle.Dispose();
            throw new OpenClException("clBuildProgram", status, $"building {text.Length} bytes of OpenCL C for {context.Device.FullName}", log);
        }
        return new OpenClProgram(context, handle, System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds, ReadBuildLog(program, device));
    }

    private static string ReadBuildLog(nint program, nint device)
    {
        nuint size;
        if (OpenClNative.clGetProgramBuildInfo(program, device, OpenClNative.ProgramBuildLog, 0, null, &size) != OpenClNative.Success) return "(no log)";
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
        {
            if (OpenClNative.clGetProgramBuildInfo(program, device, OpenClNative.ProgramBuildLog, size, b, null) != OpenClNative.Success) return "(no log)";
        }
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0');
    }

    /// <summary>A new kernel object for the kernel function <paramref name="name"/>.</summary>
    /// <exception cref="OpenClException">The program has no such kernel.</exception>
    public OpenClKernel CreateKernel(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        byte[] bytes = Encoding.UTF8.GetBytes(name + "\0");
        int status;
        nint kernel;
        fixed (byte* n = bytes) kernel = OpenClNative.clCreateKernel(_handle.Value, n, &status);
        OpenClNative.Check(status, "clCreateKernel");
        GC.KeepAlive(this);
        return new OpenClKernel(Context, new KernelHandle(kernel), name);
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
