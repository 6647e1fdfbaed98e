// Starts DynamoDB Local as its own main method does (ServerRunner.main), but
// listening on 127.0.0.1 only. DynamoDB Local builds its Jetty server with
// new Server(port), which listens on every interface, and it has no option
// to choose the address: this sets the host of the server's connector before
// starting it. The emulator package runs this file in Java's source-file mode
// (java -cp DynamoDBLocal.jar LoopbackDynamoDBLocal.java ARGS), with
// DynamoDB Local's usual arguments.

import java.lang.reflect.Field;

import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public class LoopbackDynamoDBLocal {
    static final String HOST = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        // The Jetty server is a private field of DynamoDB Local 1.25.
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local's Jetty server has no connector to bind to " + HOST);
        }
        for (Connector c : connectors) {
            if (!(c instanceof ServerConnector)) {
                throw new IllegalStateException("DynamoDB Local's connector " + c + " is not a ServerConnector: cannot bind it to " + HOST);
            }
            ((ServerConnector) c).setHost(HOST);
        }
        proxy.start();
    }
}
