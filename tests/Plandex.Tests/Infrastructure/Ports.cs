using System.Net;
using System.Net.Sockets;

namespace Plandex.Tests.Infrastructure;

public static class Ports
{
    // Below Linux's ephemeral range (32768+), so outgoing connections of other tests cannot take a port
    // between choosing it and the silo binding it.
    public static int Free()
    {
        while (true)
        {
            var port = Random.Shared.Next(20000, 32000);
            try
            {
                var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                l.Stop();
                return port;
            }
            catch (SocketException) { }
        }
    }
}
