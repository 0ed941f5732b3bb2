import { Placeholder } from "../components/Placeholder";

/** ChannelsPage is the channels page. */
export function ChannelsPage() {
  return <Placeholder title="Channels" />;
}
