// What channels hear back (issue 19): delivery receipts, SMS replies and keypresses in voice calls,
// emitted on the bus as 'channel.inbound'. (Placeholder of i19b with the shape agreed with i19a;
// i19a's file replaces it.)
import { z } from 'zod';

export const ChannelInbound = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('receipt'),
    outboxId: z.number().int(),
    status: z.enum(['delivered', 'failed', 'answered', 'no_answer', 'busy']),
    at: z.number().optional(),
  }),
  z.object({ type: z.literal('reply'), channel: z.literal('sms'), from: z.string().min(1), text: z.string(), outboxId: z.number().int().optional(), at: z.number().optional() }),
  z.object({ type: z.literal('keypress'), channel: z.literal('voice'), outboxId: z.number().int(), digits: z.string(), at: z.number().optional() }),
]);
export type ChannelInbound = z.infer<typeof ChannelInbound>;
