using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Quant.Runtime.Distributed;

/// <summary>
/// The few Open MPI entry points <see cref="MpiComm"/> calls, bound at run time through function
/// pointers so that the assembly loads (and <see cref="MpiComm.IsAvailable"/> answers) on machines
/// without MPI.
/// </summary>
/// <remarks>
/// ABI facts (Open MPI 4.x and 5.x, <c>mpi.h</c>): every function returns an <c>int</c> error code,
/// <c>MPI_SUCCESS</c> = 0. Handles are pointers, and the predefined ones are the addresses of global
/// objects: <c>MPI_COMM_WORLD</c> = <c>&amp;ompi_mpi_comm_world</c>, <c>MPI_FLOAT</c> = <c>&amp;ompi_mpi_float</c>,
/// <c>MPI_BYTE</c> = <c>&amp;ompi_mpi_byte</c>, <c>MPI_ERRORS_RETURN</c> = <c>&amp;ompi_mpi_errors_return</c>.
/// <c>MPI_THREAD_SERIALIZED</c> = 2 and <c>MPI_MAX_ERROR_STRING</c> = 256. (MPICH's handles are integers,
/// so this binding is Open MPI's only; the missing symbols say so.)
/// </remarks>
internal static unsafe class MpiNative
{
    /// <summary>The soname of Open MPI's C library since 3.0 (Debian's <c>libopenmpi3</c>, from <c>libopenmpi-dev</c> / <c>openmpi-bin</c>).</summary>
    public const string LibraryName = "libmpi.so.40";

    /// <summary>An environment variable that names another library file to load instead.</summary>
    public const string LibraryVariable = "QUANT_MPI_LIBRARY";

    public const int Success = 0;
    public const int ThreadSerialized = 2;
    public const int MaxErrorString = 256;

    public static delegate* unmanaged<int*, int> Initialized;
    public static delegate* unmanaged<int*, int> Finalized;
    public static delegate* unmanaged<int*, byte***, int, int*, int> InitThread;
    public static delegate* unmanaged<int> Finalize;
    public static delegate* unmanaged<nint, int, int> Abort;
    public static delegate* unmanaged<nint, int*, int> CommRank;
    public static delegate* unmanaged<nint, int*, int> CommSize;
    public static delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public static delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> Allgather;
    public static delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
    public static delegate* unmanaged<nint, int> Barrier;
    public static delegate* unmanaged<int, byte*, int*, int> ErrorString;

    public static nint CommWorld;
    public static nint Float;
    public static nint Byte;
    public static nint ErrorsReturn;

    private static readonly object s_gate = new();
    private static bool s_attempted;
    private static string? s_loadError;

    /// <summary>The library file that was loaded, once <see cref="TryLoad"/> succeeded.</summary>
    public static string? LoadedFrom { get; private set; }

    /// <summary>Loads the library and binds every entry point, once; returns null or why it failed.</summary>
    public static string? TryLoad()
    {
        lock (s_gate)
        {
            if (!s_attempted)
            {
                s_attempted = true;
                s_loadError = Load();
            }
            return s_loadError;
        }
    }

    private static string? Load()
    {
        string? custom = Environment.GetEnvironmentVariable(LibraryVariable);
        string name = string.IsNullOrEmpty(custom) ? LibraryName : custom;
        if (!NativeLibrary.TryLoad(name, out nint library))
        {
            return $"the Open MPI library {name} could not be loaded"
                + (string.IsNullOrEmpty(custom) ? " (on Debian or Ubuntu: apt-get install openmpi-bin libopenmpi-dev)" : $" (named by {LibraryVariable})");
        }
        string? missing = null;
        nint Export(string symbol)
        {
            if (NativeLibrary.TryGetExport(library, symbol, out nint address)) return address;
            missing ??= symbol;
            return 0;
        }

        Initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");
        InitThread = (delegate* unmanaged<int*, byte***, int, int*, int>)Export("MPI_Init_thread");
        Finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        Abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        CommRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Export("MPI_Comm_set_errhandler");
        Allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Export("MPI_Allgather");
        Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Export("MPI_Bcast");
        Barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Export("MPI_Error_string");
        CommWorld = Export("ompi_mpi_comm_world");
        Float = Export("ompi_mpi_float");
        Byte = Export("ompi_mpi_byte");
        ErrorsReturn = Export("ompi_mpi_errors_return");
        if (missing is not null)
        {
            NativeLibrary.Free(library);
            return $"{name} does not export {missing}: it is not Open MPI's libmpi (only Open MPI's ABI is supported)";
        }
        LoadedFrom = name;
        return null;
    }

    /// <summary>MPI's own text for <paramref name="code"/>, or a placeholder when even that fails.</summary>
    public static string Describe(int code)
    {
        byte* text = stackalloc byte[MaxErrorString + 1];
        int length = 0;
        if (ErrorString is null || ErrorString(code, text, &length) != Success || length <= 0) return "no description";
        return Encoding.UTF8.GetString(text, Math.Min(length, MaxErrorString)).Trim();
    }
}
