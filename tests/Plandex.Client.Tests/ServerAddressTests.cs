using Plandex.Client.Connection;
using Xunit;

namespace Plandex.Client.Tests;

public sealed class ServerAddressTests
{
    [Fact]
    public void Gateways_parse_with_their_hosts_as_written()
    {
        var a = ServerAddress.Parse(" 127.0.0.1:30000 , localhost:30001 ");
        Assert.Equal([30000, 30001], a.Gateways.Select(g => g.Port));
        Assert.Equal(["127.0.0.1", "localhost"], a.Hosts!);
    }

    [Theory]
    [InlineData("bogus", "server 'bogus' is not host:port")]
    [InlineData("127.0.0.1:70000", "server '127.0.0.1:70000' is not host:port")]
    [InlineData(" , ", "server address is empty")]
    // .invalid never resolves (RFC 2606). Dns throws for it rather than answering empty; that escaped as a stack trace.
    [InlineData("nohost.invalid:30000", "server host 'nohost.invalid' does not resolve")]
    public void A_bad_address_is_one_argument_error_naming_it(string text, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => ServerAddress.Parse(text));
        Assert.StartsWith(expected, e.Message);
    }
}
