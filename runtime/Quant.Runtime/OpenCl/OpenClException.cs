using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant.Runtime.OpenCl;

/// <summary>An OpenCL call failed: the message names the call and its status (<c>CL_OUT_OF_RESOURCES (-5)</c>), and a failed build carries its log.</summary>
public sealed class OpenClException : Exception
{
    /// <summary>Creates the exception for <paramref name="call"/> returning <paramref name="status"/>.</summary>
    public OpenClException(string call, int status, string? detail = null, string? buildLog = null)
        : base(Describe(call, status, detail, buildLog))
    {
        Call = call;
        Status = status;
        BuildLog = buildLog;
    }

    /// <summary>The OpenCL function that failed (<c>clBuildProgram</c>).</summary>
    public string Call { get; }

    /// <summary>Its status code.</summary>
    public int Status { get; }

    /// <summary>The status code's name (<c>CL_BUILD_PROGRAM_FAILURE</c>), or <c>CL_UNKNOWN_ERROR</c>.</summary>
    public string StatusName => NameOf(Status);

    /// <summary>The compiler's log, for a failed program build; null otherwise.</summary>
    public string? BuildLog { get; }

    /// <summary>The name of an OpenCL status code.</summary>
    public static string NameOf(int status) => s_names.TryGetValue(status, out var name) ? name : "CL_UNKNOWN_ERROR";

    private static string Describe(string call, int status, string? detail, string? buildLog)
    {
        string text = string.Create(CultureInfo.InvariantCulture, $"{call} failed with {NameOf(status)} ({status})");
        if (detail is not null) text += ": " + detail;
        if (buildLog is not null) text += "\nBuild log:\n" + buildLog.Trim();
        return text;
    }

    private static readonly Dictionary<int, string> s_names = new()
    {
        [0] = "CL_SUCCESS", [-1] = "CL_DEVICE_NOT_FOUND", [-2] = "CL_DEVICE_NOT_AVAILABLE", [-3] = "CL_COMPILER_NOT_AVAILABLE",
        [-4] = "CL_MEM_OBJECT_ALLOCATION_FAILURE", [-5] = "CL_OUT_OF_RESOURCES", [-6] = "CL_OUT_OF_HOST_MEMORY",
        [-7] = "CL_PROFILING_INFO_NOT_AVAILABLE", [-8] = "CL_MEM_COPY_OVERLAP", [-9] = "CL_IMAGE_FORMAT_MISMATCH",
        [-10] = "CL_IMAGE_FORMAT_NOT_SUPPORTED", [-11] = "CL_BUILD_PROGRAM_FAILURE", [-12] = "CL_MAP_FAILURE",
        [-13] = "CL_MISALIGNED_SUB_BUFFER_OFFSET", [-14] = "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST", [-15] = "CL_COMPILE_PROGRAM_FAILURE",
        [-16] = "CL_LINKER_NOT_AVAILABLE", [-17] = "CL_LINK_PROGRAM_FAILURE", [-18] = "CL_DEVICE_PARTITION_FAILED",
        [-19] = "CL_KERNEL_ARG_INFO_NOT_AVAILABLE", [-30] = "CL_INVALID_VALUE", [-31] = "CL_INVALID_DEVICE_TYPE", [-32] = "CL_INVALID_PLATFORM",
        [-33] = "CL_INVALID_DEVICE", [-34] = "CL_INVALID_CONTEXT", [-35] = "CL_INVALID_QUEUE_PROPERTIES", [-36] = "CL_INVALID_COMMAND_QUEUE",
        [-37] = "CL_INVALID_HOST_PTR", [-38] = "CL_INVALID_MEM_OBJECT", [-39] = "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR", [-40] = "CL_INVALID_IMAGE_SIZE",
        [-41] = "CL_INVALID_SAMPLER", [-42] = "CL_INVALID_BINARY", [-43] = "CL_INVALID_BUILD_OPTIONS", [-44] = "CL_INVALID_PROGRAM",
        [-45] = "CL_INVALID_PROGRAM_EXECUTABLE", [-46] = "CL_INVALID_KERNEL_NAME", [-47] = "CL_INVALID_KERNEL_DEFINITION", [-48] = "CL_INVALID_KERNEL",
        [-49] = "CL_INVALID_ARG_INDEX", [-50] = "CL_INVALID_ARG_VALUE", [-51] = "CL_INVALID_ARG_SIZE", [-52] = "CL_INVALID_KERNEL_ARGS",
        [-53] = "CL_INVALID_WORK_DIMENSION", [-54] = "CL_INVALID_WORK_GROUP_SIZE", [-55] = "CL_INVALID_WORK_ITEM_SIZE", [-56] = "CL_INVALID_GLOBAL_OFFSET",
        [-57] = "CL_INVALID_EVENT_WAIT_LIST", [-58] = "CL_INVALID_EVENT", [-59] = "CL_INVALID_OPERATION", [-60] = "CL_INVALID_GL_OBJECT",
        [-61] = "CL_INVALID_BUFFER_SIZE", [-62] = "CL_INVALID_MIP_LEVEL", [-63] = "CL_INVALID_GLOBAL_WORK_SIZE", [-64] = "CL_INVALID_PROPERTY",
        [-65] = "CL_INVALID_IMAGE_DESCRIPTOR", [-66] = "CL_INVALID_COMPILER_OPTIONS", [-67] = "CL_INVALID_LINKER_OPTIONS",
        [-68] = "CL_INVALID_DEVICE_PARTITION_COUNT", [-69] = "CL_INVALID_PIPE_SIZE", [-70] = "CL_INVALID_DEVICE_QUEUE", [-71] = "CL_INVALID_SPEC_ID",
        [-72] = "CL_MAX_SIZE_RESTRICTION_EXCEEDED", [-1001] = "CL_PLATFORM_NOT_FOUND_KHR",
    };
}
