import { Placeholder } from "../components/Placeholder";

/** ChannelPage is the channel page. */
export function ChannelPage() {
  return <Placeholder title="Channel" />;
}
