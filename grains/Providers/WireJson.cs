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
}
