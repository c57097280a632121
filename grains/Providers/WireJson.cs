using System.Buffers;
using System.Text.Json;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>JSON request bodies shared by the provider wires.</summary>
internal static class WireJson
{
    /// <summary>Writes one JSON object: the model and <c>"stream": true</c>, then the wire's own fields.</summary>
    public static byte[] Body(string model, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("model", model);
            w.WriteBoolean("stream", true);
            fields(w);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    public static void Messages(Utf8JsonWriter w, IEnumerable<ProviderMessage> messages, Func<string, string> role)
    {
        w.WriteStartArray("messages");
        foreach (var m in messages)
        {
            w.WriteStartObject();
            w.WriteString("role", role(m.Role));
            w.WriteString("content", m.Content);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Appends the current string token, unescaped, without making a string of it.</summary>
    public static void AppendString(ref Utf8JsonReader r, System.Text.StringBuilder text)
    {
        var max = r.HasValueSequence ? checked((int)r.ValueSequence.Length) : r.ValueSpan.Length;
        if (max <= 512)
        {
            Span<char> chars = stackalloc char[512];
            text.Append(chars[..r.CopyString(chars)]);
            return;
        }
        var rented = ArrayPool<char>.Shared.Rent(max);
        try { text.Append(rented, 0, r.CopyString(rented)); }
        finally { ArrayPool<char>.Shared.Return(rented); }
    }

    /// <summary>Reads the value after a property name: an int when it is one, else skips it.</summary>
    public static int? ReadInt(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Number && r.TryGetInt32(out var v)) return v;
        r.Skip();
        return null;
    }

    /// <summary>After the top-level value: anything but whitespace is malformed (throws JsonException).</summary>
    public static void ReadEnd(ref Utf8JsonReader r)
    {
        if (r.Read()) throw new JsonException("data after the event's JSON value");
    }
}
