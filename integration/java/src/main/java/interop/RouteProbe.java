package interop;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.rocketmq.client.ClientConfig;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.impl.MQClientAPIImpl;
import org.apache.rocketmq.common.protocol.body.ClusterInfo;
import org.apache.rocketmq.common.protocol.route.BrokerData;
import org.apache.rocketmq.common.protocol.route.QueueData;
import org.apache.rocketmq.common.protocol.route.TopicRouteData;
import org.apache.rocketmq.remoting.netty.NettyClientConfig;

/**
 * Reads a topic route and the cluster info from a namesrv through the official client's own
 * request and parsing code, and prints them one fact per line for the Rust test to check.
 *
 * Usage: RouteProbe NAMESRV_ADDR TOPIC [MISSING_TOPIC]
 */
public final class RouteProbe {
    public static void main(String[] args) throws Exception {
        String namesrv = args[0];
        String topic = args[1];
        MQClientAPIImpl api = new MQClientAPIImpl(new NettyClientConfig(), null, null, new ClientConfig());
        api.start();
        api.updateNameServerAddressList(namesrv);
        try {
            TopicRouteData route = api.getTopicRouteInfoFromNameServer(topic, 3000);
            for (BrokerData broker : route.getBrokerDatas()) {
                List<Long> ids = new ArrayList<>(broker.getBrokerAddrs().keySet());
                Collections.sort(ids);
                for (Long id : ids) {
                    System.out.println("BROKER " + broker.getCluster() + " " + broker.getBrokerName()
                        + " " + id + " " + broker.getBrokerAddrs().get(id));
                }
            }
            for (QueueData queue : route.getQueueDatas()) {
                System.out.println("QUEUE " + queue.getBrokerName() + " read=" + queue.getReadQueueNums()
                    + " write=" + queue.getWriteQueueNums() + " perm=" + queue.getPerm());
            }
            ClusterInfo cluster = api.getBrokerClusterInfo(3000);
            for (Map.Entry<String, Set<String>> entry : cluster.getClusterAddrTable().entrySet()) {
                List<String> names = new ArrayList<>(entry.getValue());
                Collections.sort(names);
                System.out.println("CLUSTER " + entry.getKey() + " " + String.join(",", names));
            }
            for (BrokerData broker : cluster.getBrokerAddrTable().values()) {
                System.out.println("CLUSTER_BROKER " + broker.getBrokerName() + " master="
                    + broker.getBrokerAddrs().get(0L));
            }
            if (args.length > 2) {
                try {
                    api.getTopicRouteInfoFromNameServer(args[2], 3000);
                    System.out.println("MISSING_TOPIC found");
                } catch (MQClientException e) {
                    System.out.println("MISSING_TOPIC code=" + e.getResponseCode());
                }
            }
            System.out.println("DONE");
        } finally {
            api.shutdown();
        }
    }
}
